/// A hypervisor host, registered by its agent.
public struct Host: Sendable, Hashable {
    /// Connection state, as CloudStack reports it.
    public enum State: String, Sendable, Hashable, CaseIterable {
        case connecting = "Connecting"
        case up = "Up"
        case down = "Down"
        case disconnected = "Disconnected"
        case alert = "Alert"
    }

    /// Administrative state (`resourcestate`).
    public enum ResourceState: String, Sendable, Hashable, CaseIterable {
        case enabled = "Enabled"
        case disabled = "Disabled"
        case prepareForMaintenance = "PrepareForMaintenance"
        case maintenance = "Maintenance"
        case errorInMaintenance = "ErrorInMaintenance"
    }

    public var id: HostID
    public var name: String
    public var zoneID: ZoneID
    public var podID: PodID
    public var clusterID: ClusterID
    public var hypervisor: HypervisorType
    public var ipAddress: String
    public var initiatorIQN: String?
    public var state: State
    public var resourceState: ResourceState
    public var cpuCores: Int
    public var cpuSpeedMHz: Int
    public var memoryBytes: Int64
    public var lastPingedEpochSeconds: Int64?
    /// How the host runs guests, as its agent reported: `kvm`, `tcg` (QEMU), nil for the simulator.
    public var accel: String?
    public var createdEpochSeconds: Int64

    public init(
        id: HostID, name: String, zoneID: ZoneID, podID: PodID, clusterID: ClusterID, hypervisor: HypervisorType,
        ipAddress: String, initiatorIQN: String?, state: State, resourceState: ResourceState, cpuCores: Int,
        cpuSpeedMHz: Int, memoryBytes: Int64, lastPingedEpochSeconds: Int64?, createdEpochSeconds: Int64
    ) {
        self.id = id
        self.name = name
        self.zoneID = zoneID
        self.podID = podID
        self.clusterID = clusterID
        self.hypervisor = hypervisor
        self.ipAddress = ipAddress
        self.initiatorIQN = initiatorIQN
        self.state = state
        self.resourceState = resourceState
        self.cpuCores = cpuCores
        self.cpuSpeedMHz = cpuSpeedMHz
        self.memoryBytes = memoryBytes
        self.lastPingedEpochSeconds = lastPingedEpochSeconds
        self.createdEpochSeconds = createdEpochSeconds
    }
}
