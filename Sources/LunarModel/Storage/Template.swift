/// A VM template: a disk image root volumes start from. Lunar ships one built-in template (no
/// image: the simulator's disks start empty); `registerTemplate` adds real ones, downloaded into
/// secondary storage and copied once per pool onto a template volume the pool's storage clones.
public struct Template: Sendable, Hashable {
    /// Where the download stands (CloudStack's `status` text says it in words).
    public enum State: String, Sendable, Hashable, CaseIterable {
        case downloading = "Downloading"
        case ready = "Ready"
        case failed = "Failed"
    }

    /// The image formats `registerTemplate` takes; QCOW2 is converted to raw once downloaded.
    public enum Format: String, Sendable, Hashable, CaseIterable {
        case raw = "RAW"
        case qcow2 = "QCOW2"
    }

    public var id: TemplateID
    public var name: String
    public var displayText: String
    public var format: Format
    /// The disk the image holds (the raw size; a QCOW2's virtual size). 0 until downloaded.
    public var sizeBytes: Int64
    /// The bytes downloaded.
    public var physicalSizeBytes: Int64?
    public var osTypeID: String?
    public var osTypeName: String
    public var isFeatured: Bool
    public var isPublic: Bool
    public var hypervisor: HypervisorType
    /// Where the image came from; nil for the built-in template, which has no image.
    public var url: String?
    public var checksum: String?
    /// The zone it is registered in (nil: every zone).
    public var zoneID: ZoneID?
    /// Its owner (nil: the system).
    public var accountID: AccountID?
    public var state: State
    /// CloudStack's `status`: "Download Complete", the progress, or why the download failed.
    public var status: String
    public var createdEpochSeconds: Int64

    public init(
        id: TemplateID, name: String, displayText: String, format: Format, sizeBytes: Int64, physicalSizeBytes: Int64? = nil, osTypeID: String? = nil,
        osTypeName: String, isFeatured: Bool, isPublic: Bool, hypervisor: HypervisorType, url: String? = nil, checksum: String? = nil, zoneID: ZoneID? = nil,
        accountID: AccountID? = nil, state: State = .ready, status: String = "Download Complete", createdEpochSeconds: Int64 = 0
    ) {
        self.id = id
        self.name = name
        self.displayText = displayText
        self.format = format
        self.sizeBytes = sizeBytes
        self.physicalSizeBytes = physicalSizeBytes
        self.osTypeID = osTypeID
        self.osTypeName = osTypeName
        self.isFeatured = isFeatured
        self.isPublic = isPublic
        self.hypervisor = hypervisor
        self.url = url
        self.checksum = checksum
        self.zoneID = zoneID
        self.accountID = accountID
        self.state = state
        self.status = status
        self.createdEpochSeconds = createdEpochSeconds
    }

    public var isReady: Bool { state == .ready }
    /// Whether root volumes from it start with data (every template but the built-in one).
    public var hasImage: Bool { url != nil }

    /// The built-in template: no image, for the simulator hypervisor.
    public static let builtIn = Template(
        id: TemplateID(trusted: "00000000-0000-4000-8000-0000000000a1"),
        name: "lunar-tiny-linux",
        displayText: "Lunar built-in tiny Linux (raw, 1 GiB)",
        format: .raw,
        sizeBytes: 1 << 30,
        osTypeName: "Other Linux (64-bit)",
        isFeatured: true,
        isPublic: true,
        hypervisor: .simulator
    )

    /// CloudStack's `templatefilter` values.
    public enum Filter: String, Sendable, CaseIterable {
        case featured, executable, all, community, selfFilter = "self", selfExecutable = "selfexecutable", sharedExecutable = "sharedexecutable"
    }

    /// Whether `account` (an administrator when `isAdmin`) sees this template under `filter`.
    public func isListed(under filter: Filter, for account: AccountID, isAdmin: Bool) -> Bool {
        let own = accountID == account
        switch filter {
        case .featured: return isFeatured && (isPublic || own || isAdmin)
        case .selfFilter: return own
        case .selfExecutable: return own && isReady
        case .executable: return isReady && (isPublic || isFeatured || own)
        case .community: return isPublic && !isFeatured && !own
        case .sharedExecutable: return false
        case .all: return isAdmin || own || isPublic || isFeatured
        }
    }
}

/// The guest OS types `registerTemplate`'s `ostypeid` names (`listOsTypes`).
public struct OSType: Sendable, Hashable {
    public var id: String
    public var description: String

    public static let all: [OSType] = [
        OSType(id: "00000000-0000-4000-8000-0000000000b1", description: "Other Linux (64-bit)"),
        OSType(id: "00000000-0000-4000-8000-0000000000b2", description: "Debian GNU/Linux 12 (64-bit)"),
        OSType(id: "00000000-0000-4000-8000-0000000000b3", description: "Ubuntu 22.04 LTS"),
        OSType(id: "00000000-0000-4000-8000-0000000000b4", description: "Other (64-bit)"),
    ]

    public static func named(id: String) -> OSType? { all.first { $0.id == id.lowercased() } }
}
