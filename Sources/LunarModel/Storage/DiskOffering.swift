/// A disk offering: the size and the storage QoS a volume gets.
public struct DiskOffering: Sendable, Hashable {
    public enum ProvisioningType: String, Sendable, Hashable, CaseIterable {
        case thin, sparse, fat
    }

    public enum StorageType: String, Sendable, Hashable, CaseIterable {
        case shared, local
    }

    public var id: DiskOfferingID
    public var name: String
    public var displayText: String
    /// The fixed size in GiB; nil when `isCustomized` (the user gives the size).
    public var diskSizeGB: Int64?
    public var isCustomized: Bool
    /// Fixed IOPS; nil when `isCustomizedIOPS` (the user gives them) or when the offering has none.
    public var minIOPS: Int64?
    public var maxIOPS: Int64?
    public var isCustomizedIOPS: Bool
    public var tags: [String]
    /// Extra space reserved for hypervisor snapshots, as a percent of the volume size.
    public var hypervisorSnapshotReservePercent: Int?
    public var provisioningType: ProvisioningType
    public var storageType: StorageType
    public var rateLimits: HypervisorRateLimits
    public var createdEpochSeconds: Int64

    public init(
        id: DiskOfferingID, name: String, displayText: String, diskSizeGB: Int64?, isCustomized: Bool, minIOPS: Int64?, maxIOPS: Int64?,
        isCustomizedIOPS: Bool, tags: [String], hypervisorSnapshotReservePercent: Int?, provisioningType: ProvisioningType,
        storageType: StorageType, rateLimits: HypervisorRateLimits, createdEpochSeconds: Int64
    ) {
        self.id = id
        self.name = name
        self.displayText = displayText
        self.diskSizeGB = diskSizeGB
        self.isCustomized = isCustomized
        self.minIOPS = minIOPS
        self.maxIOPS = maxIOPS
        self.isCustomizedIOPS = isCustomizedIOPS
        self.tags = tags
        self.hypervisorSnapshotReservePercent = hypervisorSnapshotReservePercent
        self.provisioningType = provisioningType
        self.storageType = storageType
        self.rateLimits = rateLimits
        self.createdEpochSeconds = createdEpochSeconds
    }

    /// The largest custom size, in GiB.
    public static let maximumCustomSizeGB: Int64 = 65_536

    /// Checks the offering's rules, each refusal saying which rule.
    public func validate() throws {
        guard !name.isEmpty else { throw LunarError.refused("an offering needs a name") }
        if isCustomized {
            if diskSizeGB != nil {
                throw LunarError.refused("disksize cannot be given with customized=true: the user picks the size per volume")
            }
        } else {
            guard let size = diskSizeGB else {
                throw LunarError.refused("disksize is required unless customized=true")
            }
            guard size > 0 else { throw LunarError.refused("disksize must be positive (got \(size))") }
            guard size <= Self.maximumCustomSizeGB else { throw LunarError.refused("disksize must be at most \(Self.maximumCustomSizeGB) GB") }
        }
        try QualityOfService.validate(minIOPS: minIOPS, maxIOPS: maxIOPS, customizedIOPS: isCustomizedIOPS)
        if let reserve = hypervisorSnapshotReservePercent, !(0...100).contains(reserve) {
            throw LunarError.refused("hypervisorsnapshotreserve is a percent from 0 to 100 (got \(reserve))")
        }
        try rateLimits.validate()
    }
}

/// The IOPS rules shared by offerings, volumes and resizes.
public enum QualityOfService {
    /// The highest IOPS figure accepted (SolidFire's per-volume maximum).
    public static let maximumIOPS: Int64 = 1_000_000

    /// - Parameter customizedIOPS: whether the user will give IOPS per volume (then none may be fixed here).
    public static func validate(minIOPS: Int64?, maxIOPS: Int64?, customizedIOPS: Bool) throws {
        if customizedIOPS, minIOPS != nil || maxIOPS != nil {
            throw LunarError.refused("miniops and maxiops cannot be fixed on an offering with customizediops=true: the user gives them per volume")
        }
        try validate(minIOPS: minIOPS, maxIOPS: maxIOPS)
    }

    /// Both or neither; not negative; min ≤ max; within the maximum.
    public static func validate(minIOPS: Int64?, maxIOPS: Int64?) throws {
        if (minIOPS == nil) != (maxIOPS == nil) {
            throw LunarError.refused("give both miniops and maxiops, or neither")
        }
        guard let minIOPS, let maxIOPS else { return }
        guard minIOPS >= 0, maxIOPS >= 0 else {
            throw LunarError.refused("IOPS must not be negative (miniops \(minIOPS), maxiops \(maxIOPS))")
        }
        guard maxIOPS > 0 else { throw LunarError.refused("maxiops must be positive") }
        guard minIOPS <= maxIOPS else {
            throw LunarError.refused("miniops (\(minIOPS)) must not be greater than maxiops (\(maxIOPS))")
        }
        guard maxIOPS <= maximumIOPS else {
            throw LunarError.refused("maxiops must be at most \(maximumIOPS) (got \(maxIOPS))")
        }
    }
}
