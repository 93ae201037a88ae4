import LunarModel
import ServiceLifecycle
import Synchronization

/// Returns when the service group shuts down gracefully; throws `CancellationError` when the task
/// is cancelled first. Unlike ServiceLifecycle's `gracefulShutdown()` it starts no task of its own
/// (that one resumes its waiter from an unstructured task), so a deterministic simulation keeps
/// every wake-up on its own executor, in order.
func awaitGracefulShutdown() async throws {
    let waiter = ShutdownWaiter()
    try await withTaskCancellationHandler {
        try await withGracefulShutdownHandler {
            try await waiter.wait()
        } onGracefulShutdown: {
            waiter.finish(.success(()))
        }
    } onCancel: {
        waiter.finish(.failure(CancellationError()))
    }
}

/// One wake-up, whichever comes first, delivered once whether it comes before or after the wait.
final class ShutdownWaiter: Sendable {
    private enum State {
        case idle
        case waiting(CheckedContinuation<Void, any Error>)
        case finished(Result<Void, any Error>)
    }

    private let state = Mutex(State.idle)

    func wait() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let early = state.withLock { state -> Result<Void, any Error>? in
                if case .finished(let result) = state { return result }
                state = .waiting(continuation)
                return nil
            }
            if let early { continuation.resume(with: early) }
        }
    }

    func finish(_ result: Result<Void, any Error>) {
        let waiting = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            switch state {
            case .idle:
                state = .finished(result)
                return nil
            case .waiting(let continuation):
                state = .finished(result)
                return continuation
            case .finished:
                return nil
            }
        }
        waiting?.resume(with: result)
    }
}
