/// A primary storage pool: where volumes live. Its provider (`local`, `lunar`, ...) does the work.
public struct StoragePool: Sendable, Hashable {
    public enum Scope: String, Sendable, Hashable, CaseIterable {
        case zone = "ZONE"
        case cluster = "CLUSTER"
    }

    public enum State: String, Sendable, Hashable, CaseIterable {
        case up = "Up"
        case prepareForMaintenance = "PrepareForMaintenance"
        case maintenance = "Maintenance"
        case disabled = "Disabled"
        case errorInMaintenance = "ErrorInMaintenance"
    }

    public var id: StoragePoolID
    public var name: String
    public var zoneID: ZoneID
    public var podID: PodID?
    public var clusterID: ClusterID?
    public var scope: Scope
    public var url: String
    public var provider: String
    public var isManaged: Bool
    public var capacityBytes: Int64
    /// nil: the pool does not account IOPS (any minimum fits, as CloudStack assumes).
    public var capacityIOPS: Int64?
    /// Bytes reserved by placed volumes (size plus hypervisor snapshot reserve).
    public var allocatedBytes: Int64
    /// Sum of the placed volumes' minimum IOPS.
    public var allocatedIOPS: Int64
    public var tags: [String]
    public var hypervisor: HypervisorType?
    public var state: State
    public var createdEpochSeconds: Int64
    /// Whether its storage reserves a volume's minimum IOPS (the provider's `qosEnforcement`).
    public var guaranteesMinimum = true
    /// Lunar's `strictqos`: refuse a volume with a minimum this pool cannot guarantee, rather
    /// than place it with a warning.
    public var strictQoS = false

    public init(
        id: StoragePoolID, name: String, zoneID: ZoneID, podID: PodID?, clusterID: ClusterID?, scope: Scope, url: String, provider: String,
        isManaged: Bool, capacityBytes: Int64, capacityIOPS: Int64?, allocatedBytes: Int64, allocatedIOPS: Int64, tags: [String],
        hypervisor: HypervisorType?, state: State, createdEpochSeconds: Int64
    ) {
        self.id = id
        self.name = name
        self.zoneID = zoneID
        self.podID = podID
        self.clusterID = clusterID
        self.scope = scope
        self.url = url
        self.provider = provider
        self.isManaged = isManaged
        self.capacityBytes = capacityBytes
        self.capacityIOPS = capacityIOPS
        self.allocatedBytes = allocatedBytes
        self.allocatedIOPS = allocatedIOPS
        self.tags = tags
        self.hypervisor = hypervisor
        self.state = state
        self.createdEpochSeconds = createdEpochSeconds
    }
}
