import LunarModel
import Synchronization

/// A FIFO async lock with a bounded queue of waiters. The database runs one unit of work at a time
/// on its single connection (a transaction must not interleave with another task's statements),
/// and callers beyond `maximumWaiters` are refused rather than queued without bound.
final class SerialGate: Sendable {
    private struct State {
        var isHeld = false
        var waiters: [CheckedContinuation<Void, any Error>] = []
        var firstWaiter = 0
    }

    private enum Decision {
        case proceed, wait, refuse
    }

    private let state = Mutex(State())
    let maximumWaiters: Int

    init(maximumWaiters: Int) {
        precondition(maximumWaiters > 0)
        self.maximumWaiters = maximumWaiters
    }

    func acquire() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let decision: Decision = state.withLock { state in
                if !state.isHeld {
                    state.isHeld = true
                    return .proceed
                }
                if state.waiters.count - state.firstWaiter >= maximumWaiters { return .refuse }
                state.waiters.append(continuation)
                return .wait
            }
            switch decision {
            case .proceed: continuation.resume()
            case .refuse:
                continuation.resume(throwing: LunarError(.limitExceeded, "the database is busy: too many requests waiting"))
            case .wait: break
            }
        }
    }

    func release() {
        let next: CheckedContinuation<Void, any Error>? = state.withLock { state in
            precondition(state.isHeld, "release without acquire")
            guard state.firstWaiter < state.waiters.count else {
                state.isHeld = false
                state.waiters.removeAll(keepingCapacity: true)
                state.firstWaiter = 0
                return nil
            }
            let next = state.waiters[state.firstWaiter]
            state.firstWaiter += 1
            if state.firstWaiter > 1024 {
                state.waiters.removeFirst(state.firstWaiter)
                state.firstWaiter = 0
            }
            return next  // the lock passes straight to the next waiter
        }
        next?.resume()
    }

    func withLock<T>(_ body: () async throws -> T) async throws -> T {
        try await acquire()
        defer { release() }
        return try await body()
    }
}
