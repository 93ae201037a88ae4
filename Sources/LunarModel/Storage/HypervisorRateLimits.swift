/// Hypervisor-side I/O throttles (libvirt `iotune`), carried by offerings and copied onto volumes.
/// Each limit has a rate, an optional burst rate (`...max`) and the burst's length in seconds.
public struct HypervisorRateLimits: Sendable, Hashable, Codable {
    public struct Limit: Sendable, Hashable, Codable {
        public var rate: Int64?
        public var max: Int64?
        public var maxLength: Int64?

        public init(rate: Int64? = nil, max: Int64? = nil, maxLength: Int64? = nil) {
            self.rate = rate
            self.max = max
            self.maxLength = maxLength
        }
    }

    /// The four throttled quantities with their CloudStack parameter stem and response stem.
    public enum Kind: CaseIterable, Sendable {
        case bytesRead, bytesWrite, iopsRead, iopsWrite

        /// `bytesreadrate`, ... (request parameters; `...max` and `...maxlength` follow).
        public var parameterStem: String {
            switch self {
            case .bytesRead: "bytesreadrate"
            case .bytesWrite: "byteswriterate"
            case .iopsRead: "iopsreadrate"
            case .iopsWrite: "iopswriterate"
            }
        }

        /// `diskBytesReadRate`, ... (response fields).
        public var responseStem: String {
            switch self {
            case .bytesRead: "diskBytesReadRate"
            case .bytesWrite: "diskBytesWriteRate"
            case .iopsRead: "diskIopsReadRate"
            case .iopsWrite: "diskIopsWriteRate"
            }
        }

        /// The database column stem.
        public var columnStem: String {
            switch self {
            case .bytesRead: "bytes_read_rate"
            case .bytesWrite: "bytes_write_rate"
            case .iopsRead: "iops_read_rate"
            case .iopsWrite: "iops_write_rate"
            }
        }
    }

    public var bytesRead = Limit()
    public var bytesWrite = Limit()
    public var iopsRead = Limit()
    public var iopsWrite = Limit()

    public init() {}

    /// Whether no limit is set.
    public var isEmpty: Bool { Kind.allCases.allSatisfy { self[$0].rate == nil } }

    public subscript(kind: Kind) -> Limit {
        get {
            switch kind {
            case .bytesRead: bytesRead
            case .bytesWrite: bytesWrite
            case .iopsRead: iopsRead
            case .iopsWrite: iopsWrite
            }
        }
        set {
            switch kind {
            case .bytesRead: bytesRead = newValue
            case .bytesWrite: bytesWrite = newValue
            case .iopsRead: iopsRead = newValue
            case .iopsWrite: iopsWrite = newValue
            }
        }
    }

    /// Checks each limit: no negatives, a burst no lower than its rate, a burst length only with a burst.
    public func validate() throws {
        for kind in Kind.allCases {
            let limit = self[kind]
            for (suffix, value) in [("", limit.rate), ("max", limit.max), ("maxlength", limit.maxLength)] {
                if let value, value < 0 {
                    throw LunarError.refused("\(kind.parameterStem)\(suffix) must not be negative (got \(value))")
                }
            }
            if let max = limit.max, let rate = limit.rate, max < rate {
                throw LunarError.refused("\(kind.parameterStem)max (\(max)) must not be lower than \(kind.parameterStem) (\(rate))")
            }
            if limit.max != nil, limit.rate == nil {
                throw LunarError.refused("\(kind.parameterStem)max needs \(kind.parameterStem) as well")
            }
            if limit.maxLength != nil, limit.max == nil {
                throw LunarError.refused("\(kind.parameterStem)maxlength needs \(kind.parameterStem)max as well")
            }
        }
    }
}
