import Histogram
import LunarModel

/// One volume's I/O counters: totals since the volume was exported, the last whole second, and
/// latency histograms (command arrival to answer, so QoS waiting counts).
struct VolumeStatistics: Sendable {
    struct Second: Sendable {
        var ios: UInt64 = 0
        var cost: Double = 0
        var bytes: UInt64 = 0
        var throttledNanos: Int64 = 0
    }

    var totalIOs: UInt64 = 0
    var totalReads: UInt64 = 0
    var totalWrites: UInt64 = 0
    var bytesRead: UInt64 = 0
    var bytesWritten: UInt64 = 0
    var totalCost: Double = 0
    var errors: UInt64 = 0
    /// Summed time commands waited in the QoS queue.
    var throttledNanos: Int64 = 0
    var currentSecondStart: Int64 = 0
    var current = Second()
    var last = Second()
    var lastLatency = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .two)
    var currentLatency = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .two)
    var totalLatency = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .two)

    init(now: Int64) {
        currentSecondStart = now
    }

    /// Moves the one-second window forward; a second with no I/O leaves an empty "last second".
    mutating func roll(now: Int64) {
        let elapsed = now - currentSecondStart
        guard elapsed >= 1_000_000_000 else { return }
        if elapsed >= 2_000_000_000 {
            last = Second()
            lastLatency.reset()
        } else {
            last = current
            swap(&lastLatency, &currentLatency)
        }
        current = Second()
        currentLatency.reset()
        currentSecondStart += elapsed / 1_000_000_000 * 1_000_000_000
    }

    mutating func record(now: Int64, bytes: Int, isWrite: Bool, cost: Double, latencyNanos: Int64, waitedNanos: Int64, failed: Bool) {
        roll(now: now)
        totalIOs += 1
        if isWrite {
            totalWrites += 1
            bytesWritten += UInt64(bytes)
        } else {
            totalReads += 1
            bytesRead += UInt64(bytes)
        }
        if failed { errors += 1 }
        totalCost += cost
        throttledNanos += waitedNanos
        current.ios += 1
        current.cost += cost
        current.bytes += UInt64(bytes)
        current.throttledNanos += waitedNanos
        let micros = UInt64(max(1, latencyNanos / 1000))
        _ = currentLatency.record(micros)
        _ = totalLatency.record(micros)
    }

    func report(volume: String, qos: SANVolumeQoS, creditSeconds: Double, queued: Int, qosEnabled: Bool) -> SANVolumeStats {
        SANVolumeStats(
            volume: volume, qos: qos, qosEnabled: qosEnabled, iops: Double(last.ios), iops4K: last.cost, bytesPerSecond: Double(last.bytes),
            latencyMicros: .init(lastLatency), totalLatencyMicros: .init(totalLatency), throttledSecondsLastSecond: Double(last.throttledNanos) / 1e9,
            totals: .init(
                ios: totalIOs, reads: totalReads, writes: totalWrites, bytesRead: bytesRead, bytesWritten: bytesWritten, ios4K: totalCost, errors: errors,
                throttledSeconds: Double(throttledNanos) / 1e9
            ),
            burstCreditSeconds: creditSeconds, queued: queued
        )
    }
}

extension SANVolumeStats.Latency {
    init(_ histogram: Histogram<UInt64>) {
        guard histogram.totalCount > 0 else {
            self.init(p50: 0, p99: 0, p999: 0, samples: 0)
            return
        }
        self.init(
            p50: histogram.valueAtPercentile(50), p99: histogram.valueAtPercentile(99), p999: histogram.valueAtPercentile(99.9),
            samples: histogram.totalCount
        )
    }
}
