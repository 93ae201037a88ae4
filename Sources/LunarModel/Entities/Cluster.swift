/// A cluster: hosts of one hypervisor type that may share storage and migrate VMs among themselves.
public struct Cluster: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case cloudManaged = "CloudManaged"
        case externalManaged = "ExternalManaged"
    }

    public var id: ClusterID
    public var name: String
    public var zoneID: ZoneID
    public var podID: PodID
    public var hypervisor: HypervisorType
    public var kind: Kind
    public var allocationState: AllocationState
    public var createdEpochSeconds: Int64

    public init(
        id: ClusterID, name: String, zoneID: ZoneID, podID: PodID, hypervisor: HypervisorType, kind: Kind,
        allocationState: AllocationState, createdEpochSeconds: Int64
    ) {
        self.id = id
        self.name = name
        self.zoneID = zoneID
        self.podID = podID
        self.hypervisor = hypervisor
        self.kind = kind
        self.allocationState = allocationState
        self.createdEpochSeconds = createdEpochSeconds
    }
}

/// The hypervisors Lunar drives.
public enum HypervisorType: String, Sendable, Hashable, CaseIterable {
    case simulator = "Simulator"
    case kvm = "KVM"

    /// Parses CloudStack's spelling, case-insensitively.
    public init?(caseInsensitive text: String) {
        guard let match = Self.allCases.first(where: { $0.rawValue.lowercased() == text.lowercased() }) else {
            return nil
        }
        self = match
    }
}
