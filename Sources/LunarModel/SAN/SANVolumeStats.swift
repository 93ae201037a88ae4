/// A volume's I/O as the SAN saw it: the last whole second, and totals since it was exported.
public struct SANVolumeStats: Codable, Sendable, Hashable {
    public struct Latency: Codable, Sendable, Hashable {
        /// Microseconds from command arrival to answer (QoS waiting included).
        public var p50: UInt64
        public var p99: UInt64
        public var p999: UInt64
        public var samples: UInt64

        public init(p50: UInt64, p99: UInt64, p999: UInt64, samples: UInt64) {
            self.p50 = p50
            self.p99 = p99
            self.p999 = p999
            self.samples = samples
        }
    }

    public struct Totals: Codable, Sendable, Hashable {
        public var ios: UInt64
        public var reads: UInt64
        public var writes: UInt64
        public var bytesRead: UInt64
        public var bytesWritten: UInt64
        /// 4 KiB-equivalent I/Os (by the node's cost curve).
        public var ios4K: Double
        public var errors: UInt64
        /// Summed time commands waited in the QoS queue.
        public var throttledSeconds: Double

        public init(
            ios: UInt64, reads: UInt64, writes: UInt64, bytesRead: UInt64, bytesWritten: UInt64, ios4K: Double, errors: UInt64, throttledSeconds: Double
        ) {
            self.ios = ios
            self.reads = reads
            self.writes = writes
            self.bytesRead = bytesRead
            self.bytesWritten = bytesWritten
            self.ios4K = ios4K
            self.errors = errors
            self.throttledSeconds = throttledSeconds
        }

        enum CodingKeys: String, CodingKey {
            case ios, reads, writes, errors
            case bytesRead = "bytes_read"
            case bytesWritten = "bytes_written"
            case ios4K = "ios_4k"
            case throttledSeconds = "throttled_seconds"
        }
    }

    public var volume: String
    public var qos: SANVolumeQoS
    public var qosEnabled: Bool
    /// Last whole second: I/Os, 4 KiB-equivalent I/Os, bytes.
    public var iops: Double
    public var iops4K: Double
    public var bytesPerSecond: Double
    public var latencyMicros: Latency
    public var totalLatencyMicros: Latency
    /// Command-seconds spent waiting in the QoS queue during the last second.
    public var throttledSecondsLastSecond: Double
    public var totals: Totals
    public var burstCreditSeconds: Double
    /// Commands waiting in the QoS queue now.
    public var queued: Int
    /// When this was read, in seconds of the node's monotonic clock: a rate over two readings is
    /// the totals' difference over these times', whatever the requests' own delays.
    public var sampledSeconds: Double?

    public init(
        volume: String, qos: SANVolumeQoS, qosEnabled: Bool, iops: Double, iops4K: Double, bytesPerSecond: Double, latencyMicros: Latency,
        totalLatencyMicros: Latency, throttledSecondsLastSecond: Double, totals: Totals, burstCreditSeconds: Double, queued: Int
    ) {
        self.volume = volume
        self.qos = qos
        self.qosEnabled = qosEnabled
        self.iops = iops
        self.iops4K = iops4K
        self.bytesPerSecond = bytesPerSecond
        self.latencyMicros = latencyMicros
        self.totalLatencyMicros = totalLatencyMicros
        self.throttledSecondsLastSecond = throttledSecondsLastSecond
        self.totals = totals
        self.burstCreditSeconds = burstCreditSeconds
        self.queued = queued
    }

    enum CodingKeys: String, CodingKey {
        case volume, qos, iops, totals, queued
        case qosEnabled = "qos_enabled"
        case sampledSeconds = "sampled_seconds"
        case iops4K = "iops_4k"
        case bytesPerSecond = "bytes_per_second"
        case latencyMicros = "latency_us"
        case totalLatencyMicros = "total_latency_us"
        case throttledSecondsLastSecond = "throttled_seconds_last_second"
        case burstCreditSeconds = "burst_credit_seconds"
    }
}

/// The node's QoS settings (`GET/PUT /v1/qos`).
public struct SANNodeQoS: Codable, Sendable, Hashable {
    /// Off: commands start at once (for comparison runs); statistics still count.
    public var enabled: Bool
    public var capacityIOPS: Int
    /// Where the capacity came from: "flag", "config", "calibrated" or "admin".
    public var capacitySource: String

    public init(enabled: Bool, capacityIOPS: Int, capacitySource: String) {
        self.enabled = enabled
        self.capacityIOPS = capacityIOPS
        self.capacitySource = capacitySource
    }

    enum CodingKeys: String, CodingKey {
        case enabled
        case capacityIOPS = "capacity_iops"
        case capacitySource = "capacity_source"
    }
}
