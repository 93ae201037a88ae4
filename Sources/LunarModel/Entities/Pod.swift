/// A pod: a rack-level grouping inside a zone.
public struct Pod: Sendable, Hashable {
    public var id: PodID
    public var name: String
    public var zoneID: ZoneID
    public var gateway: String?
    public var netmask: String?
    public var startIP: String?
    public var endIP: String?
    public var allocationState: AllocationState
    public var createdEpochSeconds: Int64

    public init(
        id: PodID, name: String, zoneID: ZoneID, gateway: String?, netmask: String?, startIP: String?, endIP: String?,
        allocationState: AllocationState, createdEpochSeconds: Int64
    ) {
        self.id = id
        self.name = name
        self.zoneID = zoneID
        self.gateway = gateway
        self.netmask = netmask
        self.startIP = startIP
        self.endIP = endIP
        self.allocationState = allocationState
        self.createdEpochSeconds = createdEpochSeconds
    }
}
