import Synchronization

/// What a deterministic simulation pins for the code it runs, carried in task-locals so no
/// initializer has to pass it on: where new unstructured tasks run, where chance comes from, and
/// who must hear of work done on threads the simulation does not own (the database's).
///
/// Outside a simulation all three are nil: tasks run on the global executor, identifiers and
/// jitter come from the system's generator, and outside work is not counted. Inside one, a single
/// thread runs every job in a fixed order, so a seed replays step for step.
public enum Deterministic {
    /// The executor new unstructured tasks prefer (`Task {}` does not inherit a task executor).
    @TaskLocal public static var executor: (any TaskExecutor)?
    /// The seeded generator identifiers and jitter draw from.
    @TaskLocal public static var random: SharedRandom?
    /// Told when work starts on another thread and when its result is back in the executor's queue.
    @TaskLocal public static var outsideWork: (any OutsideWork)?

    /// An unstructured task on the simulation's executor (the global one outside simulations).
    /// Use it only where no task group can own the work.
    @discardableResult
    public static func task<T: Sendable>(_ operation: sending @escaping () async -> T) -> Task<T, Never> {
        Task(executorPreference: executor, operation: operation)
    }

    /// `task(_:)` for work that throws.
    @discardableResult
    public static func throwingTask<T: Sendable>(_ operation: sending @escaping () async throws -> T) -> Task<T, any Error> {
        Task(executorPreference: executor, operation: operation)
    }

    /// A number from the simulation's generator, else from the system's.
    public static func next() -> UInt64 {
        if let random { return random.next() }
        var system = SystemRandomNumberGenerator()
        return system.next()
    }

    /// A uniformly drawn number in `range`.
    public static func double(in range: ClosedRange<Double>) -> Double {
        let unit = Double(next() >> 11) / Double(1 << 53)
        return range.lowerBound + unit * (range.upperBound - range.lowerBound)
    }
}

/// A seeded generator several tasks draw from (one at a time in a simulation, so in a fixed order).
public final class SharedRandom: Sendable {
    private let generator: Mutex<SplitMix64>

    public init(seed: UInt64) { generator = Mutex(SplitMix64(state: seed)) }

    public func next() -> UInt64 { generator.withLock { $0.next() } }
}

/// Counts work running outside the executor: a deterministic executor waits until every piece
/// has come back (its continuation enqueued) before it picks its next job, so a database answer
/// lands at the same place in the queue on every run.
public protocol OutsideWork: Sendable {
    func begin()
    /// Called after the result was handed back (the waiting task's continuation resumed).
    func end()
}

/// `Deterministic.next()` as a generator, for APIs that take one.
public struct DeterministicGenerator: RandomNumberGenerator {
    public init() {}
    public mutating func next() -> UInt64 { Deterministic.next() }
}
