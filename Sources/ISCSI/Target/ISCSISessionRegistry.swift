import NIOCore
import Synchronization

/// The normal sessions logged in to a target server, so the node can see who is connected to a
/// volume and drop an initiator's sessions when its access is taken away.
public final class ISCSISessionRegistry: Sendable {
    public struct Session: Sendable, Hashable {
        public var target: String
        public var initiator: String
        public var initiatorPort: String
    }

    struct Entry {
        var session: Session
        var channel: any Channel
        var fence: ISCSIConnectionFence
    }

    let entries = Mutex<[ObjectIdentifier: Entry]>([:])

    public init() {}

    func add(_ session: Session, channel: any Channel, fence: ISCSIConnectionFence) {
        entries.withLock { $0[ObjectIdentifier(channel)] = Entry(session: session, channel: channel, fence: fence) }
    }

    func remove(channel: any Channel) {
        _ = entries.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Sessions to `target`, or to every target.
    public func sessions(target: String? = nil) -> [Session] {
        entries.withLock { entries in entries.values.map(\.session).filter { target == nil || $0.target == target } }
    }

    /// How many sessions `initiator` has (to any target) and how long since the most recent of them
    /// last sent a command: how the server tells a host that is gone from one that only lost its
    /// agent (a gone host's sessions are absent or silent).
    public func activity(initiator: String) -> (sessions: Int, idle: Duration?) {
        let now = NIODeadline.now().uptimeNanoseconds
        let stamps = entries.withLock { entries in entries.values.filter { $0.session.initiator == initiator }.map { $0.fence.lastCommandNanoseconds } }
        guard let latest = stamps.max() else { return (0, nil) }
        return (stamps.count, latest == 0 ? nil : .nanoseconds(Int64(now &- latest)))
    }

    /// Closes the connections of `initiator` (every initiator when nil) to `target`; returns how many.
    @discardableResult
    public func close(target: String, initiator: String? = nil) -> Int {
        let channels = entries.withLock { entries in
            entries.values.filter { $0.session.target == target && (initiator == nil || $0.session.initiator == initiator) }.map(\.channel)
        }
        for channel in channels { channel.close(promise: nil) }
        return channels.count
    }

    /// Fences `initiator` (every initiator when nil) off `target`: its connections take no new
    /// command, drop the ones queued (for QoS or for data) unexecuted, wait for the ones already at
    /// the backing store, and close. Returns once all of that is done, with how many were fenced.
    /// Call it after the catalog refuses the initiator, so no new session can slip in.
    @discardableResult
    public func fence(target: String, initiator: String? = nil) async -> Int {
        let fences = entries.withLock { entries in
            entries.values.filter { $0.session.target == target && (initiator == nil || $0.session.initiator == initiator) }.map(\.fence)
        }
        await withTaskGroup(of: Void.self) { group in
            for fence in fences { group.addTask { await fence.raise() } }
        }
        return fences.count
    }
}

/// One connection's side of a fence: the handler counts the commands it has at the backing store
/// here, and the fence waits for that count to reach zero after stopping the handler.
final class ISCSIConnectionFence: Sendable {
    struct State {
        var executing = 0
        var raised = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    let state = Mutex(State())
    /// Uptime when the connection last started a command (0: never).
    let lastCommand = Atomic<UInt64>(0)
    let channel: any Channel
    /// Runs on the connection's event loop: stop taking commands, drop what has not started.
    let stop: @Sendable () -> Void

    init(channel: any Channel, stop: @escaping @Sendable () -> Void) {
        self.channel = channel
        self.stop = stop
    }

    func started() {
        state.withLock { $0.executing += 1 }
    }

    /// A command arrived.
    func touch() {
        lastCommand.store(NIODeadline.now().uptimeNanoseconds, ordering: .relaxed)
    }

    var lastCommandNanoseconds: UInt64 { lastCommand.load(ordering: .relaxed) }

    func finished() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.executing -= 1
            guard state.executing == 0 else { return [] }
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func raise() async {
        // The loop may be gone with the connection; then nothing can start any more anyway.
        try? await channel.eventLoop.submit { self.stop() }.get()
        await withCheckedContinuation { continuation in
            let done = state.withLock { state -> Bool in
                state.raised = true
                if state.executing == 0 { return true }
                state.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
        try? await channel.close()
    }
}
