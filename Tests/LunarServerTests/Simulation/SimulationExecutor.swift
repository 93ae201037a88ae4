import Foundation
import LunarModel

/// Runs a whole simulated system on one thread, one job at a time, in the order jobs were
/// enqueued; when nothing can run it moves the manual clock to the next sleeper. Work on other
/// threads (the database's) is waited for before the next job is picked (`OutsideWork`), so its
/// answers land at the same place every run. With SplitMix64 identifiers and task-local
/// placement of unstructured tasks (`Deterministic`), a seed replays step for step.
final class SimulationExecutor: TaskExecutor, OutsideWork, @unchecked Sendable {
    // @unchecked: `jobs`, `head` and `outside` are guarded by `condition`.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var head = 0
    private var outside = 0

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    func begin() {
        condition.lock()
        outside += 1
        condition.unlock()
    }

    func end() {
        condition.lock()
        outside -= 1
        condition.signal()
        condition.unlock()
    }

    struct Stuck: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs `body` (and everything it starts) on the calling thread until it returns. Fails when
    /// virtual time passes `limit` or nothing can ever run again.
    func run<T: Sendable>(clock: ManualClock, random: SharedRandom, limit: Duration, _ body: @escaping @Sendable () async throws -> T) throws -> T {
        let outcome = OutcomeBox<T>()
        Task(executorPreference: self) {
            let result = await Deterministic.$executor.withValue(self) {
                await Deterministic.$random.withValue(random) {
                    await Deterministic.$outsideWork.withValue(self) {
                        do { return Result<T, any Error>.success(try await body()) } catch { return .failure(error) }
                    }
                }
            }
            outcome.set(result)
        }
        while true {
            if let result = outcome.value { return try result.get() }
            if let job = nextJob() {
                job.runSynchronously(on: asUnownedTaskExecutor())
                continue
            }
            if clock.advanceToNextDeadline() {
                guard clock.now.offset <= limit else { throw Stuck(description: "virtual time passed \(limit)") }
                continue
            }
            // Nothing runnable, nobody sleeping: only untracked outside work (a library's own task,
            // at teardown) can still wake something. Bounded, in real time, as a last resort.
            guard waitForOutsideJob(seconds: 30) else { throw Stuck(description: "no task can run and none sleeps: a deadlock") }
        }
    }

    private func nextJob() -> UnownedJob? {
        condition.lock()
        defer { condition.unlock() }
        while outside > 0 { condition.wait() }
        guard head < jobs.count else { return nil }
        let job = jobs[head]
        head += 1
        if head > 4096 {
            jobs.removeFirst(head)
            head = 0
        }
        return job
    }

    private func waitForOutsideJob(seconds: Double) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: seconds)
        while head >= jobs.count {
            if !condition.wait(until: deadline) { return head < jobs.count }
        }
        return true
    }
}

final class OutcomeBox<T: Sendable>: @unchecked Sendable {
    // @unchecked: guarded by `lock`.
    private let lock = NSLock()
    private var result: Result<T, any Error>?
    func set(_ value: Result<T, any Error>) { lock.withLock { result = value } }
    var value: Result<T, any Error>? { lock.withLock { result } }
}
