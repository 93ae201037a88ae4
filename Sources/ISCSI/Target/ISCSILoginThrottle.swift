import Synchronization

/// Bounds failed logins per source address: after `maximumFailures` authentication failures
/// (wrong or malformed CHAP) within `window`, the address's logins are refused until the window
/// ends. The table is bounded too (the oldest entries make room).
public final class ISCSILoginThrottle: Sendable {
    struct Entry {
        var failures: Int
        var windowStart: ContinuousClock.Instant
    }

    public let maximumFailures: Int
    public let window: Duration
    static let maximumAddresses = 4096
    let entries = Mutex<[String: Entry]>([:])

    public init(maximumFailures: Int = 10, window: Duration = .seconds(60)) {
        self.maximumFailures = maximumFailures
        self.window = window
    }

    /// Whether a login from `address` may be tried now.
    public func allows(_ address: String, now: ContinuousClock.Instant = .now) -> Bool {
        entries.withLock { entries in
            guard let entry = entries[address] else { return true }
            if now - entry.windowStart >= window {
                entries[address] = nil
                return true
            }
            return entry.failures < maximumFailures
        }
    }

    public func recordFailure(_ address: String, now: ContinuousClock.Instant = .now) {
        entries.withLock { entries in
            if var entry = entries[address], now - entry.windowStart < window {
                entry.failures += 1
                entries[address] = entry
                return
            }
            if entries.count >= Self.maximumAddresses, let oldest = entries.min(by: { $0.value.windowStart < $1.value.windowStart })?.key {
                entries[oldest] = nil
            }
            entries[address] = Entry(failures: 1, windowStart: now)
        }
    }
}
