import ISCSI
import LunarModel
import NIOCore
import NIOPosix
import Synchronization

/// The target's admission hook: runs ``QoSScheduler`` on the real clock, starts queued commands
/// from a timer, and keeps each volume's statistics. One per node, shared by every connection.
///
/// Commands that move no blocks (INQUIRY, MODE SENSE, reservations, ...) bypass QoS; so do NOP,
/// task management, login and logout, which never reach it. With QoS disabled every command is
/// admitted at once and still counted.
public final class QoSGate: ISCSICommandAdmission {
    struct Command: Sendable {
        var volume: QoSScheduler.VolumeID
        var cost: Double
        var bytes: Int
        var isWrite: Bool
        var arrived: Int64
        var waited: Int64 = 0
    }

    struct Waiting: Sendable {
        var command: Command
        var start: @Sendable () -> Void
    }

    struct Registered: Sendable {
        var id: QoSScheduler.VolumeID
        var name: String
    }

    struct State: Sendable {
        var scheduler: QoSScheduler
        var enabled: Bool
        var capacity: SANNodeQoS
        var volumes: [String: Registered] = [:]
        var names: [QoSScheduler.VolumeID: String] = [:]
        var nextVolumeID = 1
        var nextTicket: UInt64 = 1
        var waiting: [UInt64: Waiting] = [:]
        var running: [UInt64: Command] = [:]
        var statistics: [QoSScheduler.VolumeID: VolumeStatistics] = [:]
        /// When the armed timer fires, if one is armed.
        var timerDeadline: Int64?
    }

    let state: Mutex<State>
    let curve: QoSCostCurve
    let timerLoop: any EventLoop
    let clock: @Sendable () -> Int64
    let metrics = SANMetrics()

    public init(
        capacity: SANNodeQoS, curve: QoSCostCurve = .standard, timerLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next(),
        clock: @escaping @Sendable () -> Int64 = { Int64(NIODeadline.now().uptimeNanoseconds) }
    ) {
        self.curve = curve
        self.timerLoop = timerLoop
        self.clock = clock
        let scheduler = QoSScheduler(configuration: .init(capacityIOPS: Double(capacity.capacityIOPS)))
        self.state = Mutex(State(scheduler: scheduler, enabled: capacity.enabled, capacity: capacity))
    }

    /// Opcodes that touch the medium, and so spend IOPS.
    static let mediumAccessOpcodes: Set<UInt8> = [
        0x08, 0x28, 0xA8, 0x88,  // READ 6/10/12/16
        0x0A, 0x2A, 0xAA, 0x8A,  // WRITE 6/10/12/16
        0x2E, 0xAE, 0x8E,  // WRITE AND VERIFY 10/12/16
        0x2F, 0xAF, 0x8F,  // VERIFY 10/12/16
        0x41, 0x93,  // WRITE SAME 10/16
        0x42,  // UNMAP
        0x89,  // COMPARE AND WRITE
        0x35, 0x91,  // SYNCHRONIZE CACHE 10/16
        0x34, 0x90,  // PRE-FETCH 10/16
    ]

    static let isMediumAccess: [Bool] = (0..<256).map { mediumAccessOpcodes.contains(UInt8($0)) }

    // MARK: Volumes

    /// Adds a volume (served as `target`) or changes its QoS; a change applies to the next command.
    public func register(target: String, volume: String, qos: SANVolumeQoS) {
        let now = clock()
        metrics.add(volume: volume)
        let starts = state.withLock { state -> [@Sendable () -> Void] in
            let id: QoSScheduler.VolumeID
            if let existing = state.volumes[target] {
                id = existing.id
            } else {
                id = state.nextVolumeID
                state.nextVolumeID += 1
                state.volumes[target] = Registered(id: id, name: volume)
                state.names[id] = volume
                state.statistics[id] = VolumeStatistics(now: now)
            }
            state.scheduler.setQoS(qos, for: id, now: now)
            // A raised limit may let queued commands run now.
            return Self.dispatch(&state, now: now).map(\.start)
        }
        afterDispatch(starts)
    }

    /// Forgets a volume; commands still queued for it never start (their connections are gone or
    /// going: a volume is removed only without sessions).
    public func unregister(target: String) {
        let removed = state.withLock { state -> String? in
            guard let registered = state.volumes.removeValue(forKey: target) else { return nil }
            for ticket in state.scheduler.removeVolume(registered.id) { state.waiting[ticket] = nil }
            state.names[registered.id] = nil
            state.statistics[registered.id] = nil
            return registered.name
        }
        if let removed { metrics.remove(volume: removed) }
    }

    public var settings: SANNodeQoS {
        state.withLock { $0.capacity }
    }

    /// Turns QoS on or off and sets the node's capacity; turning it off starts every queued command.
    public func update(enabled: Bool?, capacityIOPS: Int?) -> SANNodeQoS {
        let now = clock()
        var starts: [@Sendable () -> Void] = []
        let settings = state.withLock { state -> SANNodeQoS in
            if let capacityIOPS {
                state.capacity.capacityIOPS = capacityIOPS
                state.capacity.capacitySource = "admin"
                state.scheduler.configuration.capacityIOPS = Double(capacityIOPS)
            }
            if let enabled {
                state.enabled = enabled
                state.capacity.enabled = enabled
            }
            if !state.enabled {
                for (ticket, waiting) in state.waiting {
                    _ = state.scheduler.cancel(ticket)
                    var command = waiting.command
                    command.waited = now - command.arrived
                    state.running[ticket] = command
                    starts.append(waiting.start)
                }
                state.waiting.removeAll()
            } else {
                starts = Self.dispatch(&state, now: now).map(\.start)
            }
            return state.capacity
        }
        afterDispatch(starts)
        return settings
    }

    // MARK: Admission

    public func admit(
        _ request: ISCSIAdmissionRequest, makeStart: (ISCSIAdmissionTicket) -> @Sendable () -> Void
    ) -> ISCSIAdmissionDecision {
        guard let opcode = request.cdb.first, Self.isMediumAccess[Int(opcode)] else { return .bypass }
        let now = clock()
        let cost = curve.cost(bytes: max(request.transferBytes, 1))
        var starts: [@Sendable () -> Void] = []
        let decision = state.withLock { state -> ISCSIAdmissionDecision in
            guard let volume = state.volumes[request.target] else { return .bypass }
            let ticket = state.nextTicket
            state.nextTicket += 1
            let command = Command(volume: volume.id, cost: cost, bytes: request.transferBytes, isWrite: request.isWrite, arrived: now)
            guard state.enabled else {
                state.running[ticket] = command
                return .admitted(ISCSIAdmissionTicket(id: ticket))
            }
            if state.scheduler.startImmediately(volume: volume.id, cost: cost, now: now) != nil {
                state.running[ticket] = command
                return .admitted(ISCSIAdmissionTicket(id: ticket))
            }
            _ = state.scheduler.enqueue(ticket, volume: volume.id, cost: cost, now: now)
            state.waiting[ticket] = Waiting(command: command, start: makeStart(ISCSIAdmissionTicket(id: ticket)))
            let dispatched = Self.dispatch(&state, now: now)
            starts = dispatched.filter { $0.ticket != ticket }.map(\.start)
            if dispatched.count != starts.count {
                // Ours may run at once: answer "admitted" instead of calling back.
                return .admitted(ISCSIAdmissionTicket(id: ticket))
            }
            return .queued(ISCSIAdmissionTicket(id: ticket))
        }
        afterDispatch(starts)
        return decision
    }

    /// Called only for commands that never started: one dispatched a moment ago, whose start
    /// callback is still on its way to the connection, is forgotten too (it will not run).
    public func cancel(_ ticket: ISCSIAdmissionTicket) {
        state.withLock { state in
            if state.scheduler.cancel(ticket.id) { state.waiting[ticket.id] = nil }
            state.running[ticket.id] = nil
        }
    }

    public func finished(_ ticket: ISCSIAdmissionTicket, status: UInt8) {
        let now = clock()
        state.withLock { state in
            guard let command = state.running.removeValue(forKey: ticket.id) else { return }
            state.statistics[command.volume]?.record(
                now: now, bytes: command.bytes, isWrite: command.isWrite, cost: command.cost, latencyNanos: now - command.arrived,
                waitedNanos: command.waited, failed: status != 0
            )
        }
    }

    /// Moves every command the scheduler lets run from waiting to running; returns their start
    /// callbacks, to call outside the lock.
    static func dispatch(_ state: inout State, now: Int64) -> [(ticket: UInt64, start: @Sendable () -> Void)] {
        var starts: [(ticket: UInt64, start: @Sendable () -> Void)] = []
        for dispatch in state.scheduler.dispatch(now: now) {
            guard let waiting = state.waiting.removeValue(forKey: dispatch.request) else { continue }
            var command = waiting.command
            command.waited = dispatch.waitedNanos
            state.running[dispatch.request] = command
            starts.append((dispatch.request, waiting.start))
        }
        return starts
    }

    /// Starts what was dispatched and arms the timer for what is still queued.
    func afterDispatch(_ starts: [@Sendable () -> Void]) {
        for start in starts { start() }
        armTimer()
    }

    func armTimer() {
        let deadline = state.withLock { state -> Int64? in
            guard let next = state.scheduler.nextEligibleTime else { return nil }
            if let armed = state.timerDeadline, armed <= next { return nil }
            state.timerDeadline = next
            return next
        }
        guard let deadline else { return }
        timerLoop.scheduleTask(deadline: NIODeadline.uptimeNanoseconds(UInt64(max(deadline, 0)))) { [self] in
            let now = clock()
            let starts = state.withLock { state -> [@Sendable () -> Void] in
                if let armed = state.timerDeadline, armed <= now { state.timerDeadline = nil }
                return Self.dispatch(&state, now: now).map(\.start)
            }
            afterDispatch(starts)
        }
    }

    // MARK: Statistics

    public func statistics(target: String) -> SANVolumeStats? {
        let now = clock()
        return state.withLock { state in
            guard let registered = state.volumes[target], var statistics = state.statistics[registered.id] else { return nil }
            statistics.roll(now: now)
            state.statistics[registered.id] = statistics
            let qos = state.scheduler.qos(of: registered.id) ?? .unlimited
            let credit = state.scheduler.creditSeconds(of: registered.id, now: now) ?? 0
            var report = statistics.report(
                volume: registered.name, qos: qos, creditSeconds: credit, queued: state.scheduler.queueLength(of: registered.id), qosEnabled: state.enabled
            )
            report.sampledSeconds = Double(now) / 1e9
            return report
        }
    }

    /// Prometheus exposition text for every volume.
    public func renderMetrics() -> String {
        metrics.render(allStatistics())
    }

    public func allStatistics() -> [SANVolumeStats] {
        let targets = state.withLock { Array($0.volumes.keys) }
        return targets.compactMap { statistics(target: $0) }.sorted { $0.volume < $1.volume }
    }
}
