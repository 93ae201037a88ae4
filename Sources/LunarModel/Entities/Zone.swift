/// An availability zone: the top of the infrastructure tree.
public struct Zone: Sendable, Hashable {
    public enum NetworkType: String, Sendable, Hashable, CaseIterable {
        case basic = "Basic"
        case advanced = "Advanced"
    }

    public var id: ZoneID
    public var name: String
    public var description: String?
    public var networkType: NetworkType
    public var dns1: String
    public var dns2: String?
    public var internalDNS1: String
    public var internalDNS2: String?
    public var guestCIDR: String?
    public var networkDomain: String?
    public var allocationState: AllocationState
    public var createdEpochSeconds: Int64

    public init(
        id: ZoneID, name: String, description: String?, networkType: NetworkType, dns1: String, dns2: String?,
        internalDNS1: String, internalDNS2: String?, guestCIDR: String?, networkDomain: String?,
        allocationState: AllocationState, createdEpochSeconds: Int64
    ) {
        self.id = id
        self.name = name
        self.description = description
        self.networkType = networkType
        self.dns1 = dns1
        self.dns2 = dns2
        self.internalDNS1 = internalDNS1
        self.internalDNS2 = internalDNS2
        self.guestCIDR = guestCIDR
        self.networkDomain = networkDomain
        self.allocationState = allocationState
        self.createdEpochSeconds = createdEpochSeconds
    }
}

/// Whether new resources may be placed in a zone, pod or cluster.
public enum AllocationState: String, Sendable, Hashable, CaseIterable {
    case enabled = "Enabled"
    case disabled = "Disabled"
}
