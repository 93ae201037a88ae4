/// Readings of an injected clock as durations since a fixed origin. `any Clock<Duration>` cannot
/// hand out instants that compare with each other, so code that stores "when" (last heard, silent
/// since) keeps these instead; on a manual clock they move only when the simulation moves it.
public struct ClockReader: Sendable {
    private let read: @Sendable () -> Duration

    public init<C: Clock>(_ clock: C) where C.Duration == Duration {
        let origin = clock.now
        read = { origin.duration(to: clock.now) }
    }

    /// Time since this reader was made.
    public var now: Duration { read() }
}
