/// A service offering: a VM's CPU and memory, and the QoS of its root disk.
public struct ServiceOffering: Sendable, Hashable {
    public var id: ServiceOfferingID
    public var name: String
    public var displayText: String
    public var cpuNumber: Int
    public var cpuSpeedMHz: Int
    public var memoryMB: Int
    public var minIOPS: Int64?
    public var maxIOPS: Int64?
    public var isCustomizedIOPS: Bool
    /// Storage tags for the root disk.
    public var tags: [String]
    public var hostTags: [String]
    public var rootDiskSizeGB: Int64?
    public var hypervisorSnapshotReservePercent: Int?
    public var provisioningType: DiskOffering.ProvisioningType
    public var storageType: DiskOffering.StorageType
    public var rateLimits: HypervisorRateLimits
    public var createdEpochSeconds: Int64
    /// VMs of this offering are restarted elsewhere when their host fails (CloudStack's `offerha`).
    public var offerHA = false

    public init(
        id: ServiceOfferingID, name: String, displayText: String, cpuNumber: Int, cpuSpeedMHz: Int, memoryMB: Int, minIOPS: Int64?,
        maxIOPS: Int64?, isCustomizedIOPS: Bool, tags: [String], hostTags: [String], rootDiskSizeGB: Int64?,
        hypervisorSnapshotReservePercent: Int?, provisioningType: DiskOffering.ProvisioningType, storageType: DiskOffering.StorageType,
        rateLimits: HypervisorRateLimits, createdEpochSeconds: Int64
    ) {
        self.id = id
        self.name = name
        self.displayText = displayText
        self.cpuNumber = cpuNumber
        self.cpuSpeedMHz = cpuSpeedMHz
        self.memoryMB = memoryMB
        self.minIOPS = minIOPS
        self.maxIOPS = maxIOPS
        self.isCustomizedIOPS = isCustomizedIOPS
        self.tags = tags
        self.hostTags = hostTags
        self.rootDiskSizeGB = rootDiskSizeGB
        self.hypervisorSnapshotReservePercent = hypervisorSnapshotReservePercent
        self.provisioningType = provisioningType
        self.storageType = storageType
        self.rateLimits = rateLimits
        self.createdEpochSeconds = createdEpochSeconds
    }

    public func validate() throws {
        guard !name.isEmpty else { throw LunarError.refused("an offering needs a name") }
        guard (1...1024).contains(cpuNumber) else { throw LunarError.refused("cpunumber must be 1 to 1024 (got \(cpuNumber))") }
        guard (1...1_000_000).contains(cpuSpeedMHz) else { throw LunarError.refused("cpuspeed must be a positive number of MHz (got \(cpuSpeedMHz))") }
        guard (32...16_777_216).contains(memoryMB) else { throw LunarError.refused("memory must be 32 MB to 16 TB (got \(memoryMB))") }
        if let size = rootDiskSizeGB, !(1...DiskOffering.maximumCustomSizeGB).contains(size) {
            throw LunarError.refused("rootdisksize must be 1 to \(DiskOffering.maximumCustomSizeGB) GB (got \(size))")
        }
        try QualityOfService.validate(minIOPS: minIOPS, maxIOPS: maxIOPS, customizedIOPS: isCustomizedIOPS)
        if let reserve = hypervisorSnapshotReservePercent, !(0...100).contains(reserve) {
            throw LunarError.refused("hypervisorsnapshotreserve is a percent from 0 to 100 (got \(reserve))")
        }
        try rateLimits.validate()
    }
}
