import Synchronization

/// Counts the server's open connections (API and agents) so those beyond the limit are refused on
/// arrival rather than left waiting in the listen backlog, which is what Hummingbird's own limit does.
final class ConnectionGate: Sendable {
    /// 0 or less: no limit.
    let limit: Int
    private let open = Mutex(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// Takes a place; false when the server is full (then there is nothing to `leave`).
    func enter() -> Bool {
        let limit = self.limit
        return open.withLock { count in
            guard limit <= 0 || count < limit else { return false }
            count += 1
            return true
        }
    }

    func leave() {
        open.withLock { $0 -= 1 }
    }
}
