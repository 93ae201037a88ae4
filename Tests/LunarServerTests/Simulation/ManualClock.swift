import LunarModel
import Synchronization

/// A clock that moves only when the simulation moves it. Sleepers wake in deadline order, ties in
/// the order they began to sleep, so the same run wakes them the same way every time.
final class ManualClock: Clock, Sendable {
    struct Instant: InstantProtocol {
        var offset: Duration
        func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private struct Sleeper {
        let deadline: Instant
        let order: UInt64
        var continuation: CheckedContinuation<Void, any Error>?
        var cancelled = false
    }

    private struct State {
        var now = Instant(offset: .zero)
        var sleepers: [UInt64: Sleeper] = [:]
        var nextOrder: UInt64 = 0
    }

    private let state = Mutex(State())

    var now: Instant { state.withLock { $0.now } }
    var minimumResolution: Duration { .nanoseconds(1) }

    func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        try Task.checkCancellation()
        let order = state.withLock { state -> UInt64? in
            guard deadline > state.now else { return nil }
            state.nextOrder += 1
            state.sleepers[state.nextOrder] = Sleeper(deadline: deadline, order: state.nextOrder)
            return state.nextOrder
        }
        guard let order else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let cancelledFirst = state.withLock { state -> Bool in
                    guard let sleeper = state.sleepers[order] else { return false }
                    if sleeper.cancelled {
                        state.sleepers[order] = nil
                        return true
                    }
                    state.sleepers[order]?.continuation = continuation
                    return false
                }
                if cancelledFirst { continuation.resume(throwing: CancellationError()) }
            }
        } onCancel: {
            let continuation = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard let sleeper = state.sleepers[order] else { return nil }
                guard let continuation = sleeper.continuation else {
                    state.sleepers[order]?.cancelled = true
                    return nil
                }
                state.sleepers[order] = nil
                return continuation
            }
            continuation?.resume(throwing: CancellationError())
        }
    }

    /// Moves to the earliest deadline and wakes every sleeper due then. False when nobody sleeps.
    func advanceToNextDeadline() -> Bool {
        let due = state.withLock { state -> [CheckedContinuation<Void, any Error>]? in
            guard let next = state.sleepers.values.min(by: { ($0.deadline, $0.order) < ($1.deadline, $1.order) }) else { return nil }
            state.now = max(state.now, next.deadline)
            let woken = state.sleepers.values.filter { $0.deadline <= state.now && $0.continuation != nil }.sorted { $0.order < $1.order }
            for sleeper in woken { state.sleepers[sleeper.order] = nil }
            return woken.compactMap(\.continuation)
        }
        guard let due else { return false }
        for continuation in due { continuation.resume() }
        return true
    }
}

/// Wall-clock seconds that follow the manual clock (so records' `created` order replays too).
struct ManualTimeFromClock: TimeSource {
    let clock: ManualClock
    var epoch: Int64 = 1_800_000_000
    func nowEpochSeconds() -> Int64 { epoch + clock.now.offset.components.seconds }
}
