import LunarModel

/// The agent's first message: who it is, what it has, and the token that lets it join.
public struct AgentRegistration: Codable, Sendable, Equatable {
    public var token: String
    public var hostName: String
    public var ipAddress: String
    public var initiatorIQN: String
    public var hypervisor: String
    /// The cluster to join, by id or name; the zone's first cluster of the hypervisor when absent.
    public var cluster: String?
    public var cpuCores: Int
    public var cpuSpeedMHz: Int
    public var memoryBytes: Int64
    /// What runs here now, so a reconnecting agent is believed, not guessed about.
    public var vms: [VMReport]
    /// Volumes whose disks are connected here, by volume id.
    public var connectedVolumes: [VolumeID]
    /// How the hypervisor runs guests (`kvm`, `tcg`; nil for the simulator).
    public var accel: String?

    public init(
        token: String, hostName: String, ipAddress: String, initiatorIQN: String, hypervisor: String, cluster: String?, cpuCores: Int,
        cpuSpeedMHz: Int, memoryBytes: Int64, vms: [VMReport], connectedVolumes: [VolumeID], accel: String? = nil
    ) {
        self.accel = accel
        self.token = token
        self.hostName = hostName
        self.ipAddress = ipAddress
        self.initiatorIQN = initiatorIQN
        self.hypervisor = hypervisor
        self.cluster = cluster
        self.cpuCores = cpuCores
        self.cpuSpeedMHz = cpuSpeedMHz
        self.memoryBytes = memoryBytes
        self.vms = vms
        self.connectedVolumes = connectedVolumes
    }
}

/// The server's welcome: the host's id and how often to beat.
public struct RegistrationAccepted: Codable, Sendable, Equatable {
    public var hostID: HostID
    public var heartbeatIntervalMilliseconds: Int

    public init(hostID: HostID, heartbeatIntervalMilliseconds: Int) {
        self.hostID = hostID
        self.heartbeatIntervalMilliseconds = heartbeatIntervalMilliseconds
    }
}

/// A periodic sign of life with what runs here.
public struct AgentHeartbeat: Codable, Sendable, Equatable {
    public var sequence: UInt64
    public var vms: [VMReport]
    public var connectedVolumes: [VolumeID]

    public init(sequence: UInt64, vms: [VMReport], connectedVolumes: [VolumeID]) {
        self.sequence = sequence
        self.vms = vms
        self.connectedVolumes = connectedVolumes
    }
}
