/// One holder per key at a time, the others waiting in arrival order: the server's one flow per
/// VM (jobs, HA, recovery) and the agent's one command per VM. Waiters are bounded by the callers
/// (jobs and agent commands each have their own limits), so the queues are too.
///
/// The body runs off the actor; only the bookkeeping is isolated. A holder's error passes through
/// unchanged (typed throws), so a body that cannot fail makes `withLock` non-throwing.
public actor KeyedAsyncLock<Key: Hashable & Sendable> {
    var queues: [Key: [CheckedContinuation<Void, Never>]] = [:]

    public init() {}

    public func withLock<T: Sendable, E: Error>(_ key: Key, _ body: @Sendable () async throws(E) -> T) async throws(E) -> T {
        await acquire(key)
        defer { release(key) }
        return try await body()
    }

    /// Whether someone holds `key` now (for tests and logs).
    public func isHeld(_ key: Key) -> Bool { queues[key] != nil }

    func acquire(_ key: Key) async {
        if queues[key] == nil {
            queues[key] = []
            return
        }
        await withCheckedContinuation { queues[key, default: []].append($0) }
    }

    func release(_ key: Key) {
        guard var waiting = queues[key] else { return }
        if waiting.isEmpty {
            queues[key] = nil
        } else {
            let next = waiting.removeFirst()
            queues[key] = waiting
            next.resume()
        }
    }
}
