/// What a storage node can hold and deliver (`GET /v1/capacity`): what a managed pool checks
/// its `capacitybytes` and `capacityiops` against.
public struct SANNodeCapacity: Codable, Sendable, Hashable {
    /// The file system holding the volumes.
    public var totalBytes: UInt64
    public var freeBytes: UInt64
    /// Sum of the volumes' sizes (thin: more than is written).
    public var provisionedBytes: UInt64
    /// Bytes the volumes' files really occupy.
    public var allocatedBytes: UInt64
    public var capacityIOPS: Int
    /// Sum of the volumes' minimum IOPS.
    public var reservedIOPS: Int
    public var volumes: Int
    /// The iSCSI portal hosts connect to, HOST:PORT.
    public var portal: String = ""

    public init(
        totalBytes: UInt64, freeBytes: UInt64, provisionedBytes: UInt64, allocatedBytes: UInt64, capacityIOPS: Int, reservedIOPS: Int, volumes: Int
    ) {
        self.totalBytes = totalBytes
        self.freeBytes = freeBytes
        self.provisionedBytes = provisionedBytes
        self.allocatedBytes = allocatedBytes
        self.capacityIOPS = capacityIOPS
        self.reservedIOPS = reservedIOPS
        self.volumes = volumes
    }

    enum CodingKeys: String, CodingKey {
        case volumes, portal
        case totalBytes = "total_bytes"
        case freeBytes = "free_bytes"
        case provisionedBytes = "provisioned_bytes"
        case allocatedBytes = "allocated_bytes"
        case capacityIOPS = "capacity_iops"
        case reservedIOPS = "reserved_iops"
    }
}
