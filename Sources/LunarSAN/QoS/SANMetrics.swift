import LunarModel
import Prometheus
import Synchronization

/// The node's Prometheus metrics (`GET /metrics`). Each volume's series are created when the
/// volume is exported and removed when it is deleted, so the `volume` label is bounded by the
/// volumes that exist. Values are taken from the QoS gate's statistics at each scrape.
final class SANMetrics: Sendable {
    struct VolumeSeries: Sendable {
        var ios: Counter
        var ios4K: Counter
        var bytesRead: Counter
        var bytesWritten: Counter
        var errors: Counter
        var throttledSeconds: Counter
        var gauges: [String: Gauge]
        /// Totals already added to the counters (counters only go up by deltas).
        var exported: SANVolumeStats.Totals
    }

    static let gaugeNames: [(String, String, String)] = [
        ("iops", "", "I/Os in the last whole second"),
        ("iops_4k", "", "4 KiB-equivalent I/Os in the last whole second"),
        ("bytes_per_second", "", "bytes moved in the last whole second"),
        ("latency_p50", "seconds", "median latency (arrival to answer) over the last whole second"),
        ("latency_p99", "seconds", "99th percentile latency over the last whole second"),
        ("latency_p999", "seconds", "99.9th percentile latency over the last whole second"),
        ("burst_credit", "seconds", "seconds of bursting left"),
        ("queued", "commands", "commands waiting in the QoS queue"),
        ("min_iops", "", "guaranteed 4 KiB-equivalent IOPS"),
        ("max_iops", "", "sustained cap"),
        ("burst_iops", "", "cap while burst credit lasts"),
    ]

    let registry = PrometheusCollectorRegistry()
    let series = Mutex<[String: VolumeSeries]>([:])

    static func descriptor(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "lunar", subsystem: "volume", metricName: name, unitName: unit, helpText: help)
    }

    func add(volume: String) {
        series.withLock { series in
            guard series[volume] == nil else { return }
            let labels = [("volume", volume)]
            func counter(_ name: String, _ unit: String, _ help: String) -> Counter {
                registry.makeCounter(descriptor: Self.descriptor(name, unit, help), labels: labels)
            }
            var gauges: [String: Gauge] = [:]
            for (name, unit, help) in Self.gaugeNames {
                gauges[name] = registry.makeGauge(descriptor: Self.descriptor(name, unit, help), labels: labels)
            }
            series[volume] = VolumeSeries(
                ios: counter("ios", "total", "I/Os answered"), ios4K: counter("ios_4k", "total", "4 KiB-equivalent I/Os answered"),
                bytesRead: counter("read_bytes", "total", "bytes read"), bytesWritten: counter("written_bytes", "total", "bytes written"),
                errors: counter("errors", "total", "I/Os answered with an error"),
                throttledSeconds: counter("throttled_seconds", "total", "command-seconds spent waiting in the QoS queue"), gauges: gauges,
                exported: .init(ios: 0, reads: 0, writes: 0, bytesRead: 0, bytesWritten: 0, ios4K: 0, errors: 0, throttledSeconds: 0)
            )
        }
    }

    func remove(volume: String) {
        series.withLock { series in
            guard let removed = series.removeValue(forKey: volume) else { return }
            for counter in [removed.ios, removed.ios4K, removed.bytesRead, removed.bytesWritten, removed.errors, removed.throttledSeconds] {
                registry.unregisterCounter(counter)
            }
            for gauge in removed.gauges.values { registry.unregisterGauge(gauge) }
        }
    }

    /// The exposition text, after bringing every volume's series up to `statistics`.
    func render(_ statistics: [SANVolumeStats]) -> String {
        series.withLock { series in
            for stats in statistics {
                guard var volume = series[stats.volume] else { continue }
                let totals = stats.totals
                volume.ios.increment(by: Int64(totals.ios - min(totals.ios, volume.exported.ios)))
                volume.ios4K.increment(by: max(0, totals.ios4K - volume.exported.ios4K))
                volume.bytesRead.increment(by: Int64(totals.bytesRead - min(totals.bytesRead, volume.exported.bytesRead)))
                volume.bytesWritten.increment(by: Int64(totals.bytesWritten - min(totals.bytesWritten, volume.exported.bytesWritten)))
                volume.errors.increment(by: Int64(totals.errors - min(totals.errors, volume.exported.errors)))
                volume.throttledSeconds.increment(by: max(0, totals.throttledSeconds - volume.exported.throttledSeconds))
                volume.exported = totals
                let values: [String: Double] = [
                    "iops": stats.iops, "iops_4k": stats.iops4K, "bytes_per_second": stats.bytesPerSecond,
                    "latency_p50": Double(stats.latencyMicros.p50) / 1e6, "latency_p99": Double(stats.latencyMicros.p99) / 1e6,
                    "latency_p999": Double(stats.latencyMicros.p999) / 1e6, "burst_credit": stats.burstCreditSeconds, "queued": Double(stats.queued),
                    "min_iops": Double(stats.qos.minIOPS), "max_iops": Double(stats.qos.maxIOPS), "burst_iops": Double(stats.qos.burstIOPS),
                ]
                for (name, value) in values { volume.gauges[name]?.set(to: value) }
                series[stats.volume] = volume
            }
        }
        return registry.emitToString()
    }
}
