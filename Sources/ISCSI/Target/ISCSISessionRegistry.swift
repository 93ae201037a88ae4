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
    }

    let entries = Mutex<[ObjectIdentifier: Entry]>([:])

    public init() {}

    func add(_ session: Session, channel: any Channel) {
        entries.withLock { $0[ObjectIdentifier(channel)] = Entry(session: session, channel: channel) }
    }

    func remove(channel: any Channel) {
        _ = entries.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Sessions to `target`, or to every target.
    public func sessions(target: String? = nil) -> [Session] {
        entries.withLock { entries in entries.values.map(\.session).filter { target == nil || $0.target == target } }
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
}
