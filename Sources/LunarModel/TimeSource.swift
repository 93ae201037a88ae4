import Foundation

/// Wall-clock time, injected so tests can pin "now" (e.g. to test signature expiry).
public protocol TimeSource: Sendable {
    /// Seconds since 1970, UTC.
    func nowEpochSeconds() -> Int64
}

/// The real wall clock.
public struct SystemTimeSource: TimeSource {
    public init() {}
    public func nowEpochSeconds() -> Int64 { Int64(Date().timeIntervalSince1970) }
}

/// A clock that only moves when told to.
public final class ManualTimeSource: TimeSource, @unchecked Sendable {
    // @unchecked: every access to `now` goes through `lock`.
    private let lock = NSLock()
    private var now: Int64

    public init(epochSeconds: Int64) { self.now = epochSeconds }

    public func nowEpochSeconds() -> Int64 { lock.withLock { now } }

    public func advance(bySeconds seconds: Int64) { lock.withLock { now += seconds } }
}
