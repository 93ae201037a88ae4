/// A volume: a VM disk. Created `Allocated` (a row only); storage is made when it is placed.
public struct Volume: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case root = "ROOT"
        case dataDisk = "DATADISK"
    }

    public var id: VolumeID
    public var name: String
    public var accountID: AccountID
    public var zoneID: ZoneID
    public var diskOfferingID: DiskOfferingID?
    public var kind: Kind
    public var sizeBytes: Int64
    public var minIOPS: Int64?
    public var maxIOPS: Int64?
    public var hypervisorSnapshotReservePercent: Int?
    public var state: VolumeState
    public var poolID: StoragePoolID?
    /// Where the provider put it: a file path, or `/<iqn>/<lun>` on managed storage.
    public var path: String?
    public var provisioningType: DiskOffering.ProvisioningType
    public var rateLimits: HypervisorRateLimits
    public var virtualMachineID: VirtualMachineID?
    public var deviceID: Int?
    public var createdEpochSeconds: Int64
    /// When it was attached to its VM (CloudStack's `attached`; clients read attachment from it).
    public var attachedEpochSeconds: Int64?

    public init(
        id: VolumeID, name: String, accountID: AccountID, zoneID: ZoneID, diskOfferingID: DiskOfferingID?, kind: Kind, sizeBytes: Int64,
        minIOPS: Int64?, maxIOPS: Int64?, hypervisorSnapshotReservePercent: Int?, state: VolumeState, poolID: StoragePoolID?, path: String?,
        provisioningType: DiskOffering.ProvisioningType, rateLimits: HypervisorRateLimits, virtualMachineID: VirtualMachineID?, deviceID: Int?,
        createdEpochSeconds: Int64, attachedEpochSeconds: Int64? = nil
    ) {
        self.attachedEpochSeconds = attachedEpochSeconds
        self.id = id
        self.name = name
        self.accountID = accountID
        self.zoneID = zoneID
        self.diskOfferingID = diskOfferingID
        self.kind = kind
        self.sizeBytes = sizeBytes
        self.minIOPS = minIOPS
        self.maxIOPS = maxIOPS
        self.hypervisorSnapshotReservePercent = hypervisorSnapshotReservePercent
        self.state = state
        self.poolID = poolID
        self.path = path
        self.provisioningType = provisioningType
        self.rateLimits = rateLimits
        self.virtualMachineID = virtualMachineID
        self.deviceID = deviceID
        self.createdEpochSeconds = createdEpochSeconds
    }

    /// Bytes this volume reserves on its pool: its size plus the hypervisor snapshot reserve.
    public var reservedBytes: Int64 {
        Self.reservedBytes(size: sizeBytes, reservePercent: hypervisorSnapshotReservePercent)
    }

    public static func reservedBytes(size: Int64, reservePercent: Int?) -> Int64 {
        let percent = Int64(reservePercent ?? 0)
        return size + (size * percent + 99) / 100
    }

    /// IOPS this volume reserves on its pool (only minimums count; maximums may overcommit).
    public var reservedIOPS: Int64 { minIOPS ?? 0 }
}

/// A volume's lifecycle, as CloudStack names it.
public enum VolumeState: String, Sendable, Hashable, CaseIterable {
    case allocated = "Allocated"
    case creating = "Creating"
    case ready = "Ready"
    case resizing = "Resizing"
    case destroy = "Destroy"
    case expunged = "Expunged"

    /// Whether the volume holds capacity on its pool in this state.
    public var holdsPoolCapacity: Bool {
        switch self {
        case .creating, .ready, .resizing, .destroy: true
        case .allocated, .expunged: false
        }
    }
}

/// The events that move a volume between states.
public enum VolumeEvent: Sendable, Hashable, CaseIterable {
    case createRequested, createSucceeded, createFailed
    case resizeRequested, resizeSucceeded, resizeFailed
    case destroyRequested, expungeSucceeded, expungeFailed
    /// The storage could not be deleted and is intact (the provider failed or was unreachable):
    /// the delete is undone and the volume is Ready again.
    case destroyAbandoned
}

/// The volume state machine: every transition the system makes goes through `next`, and a
/// failure returns to the last stable state (Allocated or Ready).
public enum VolumeStateMachine {
    /// The state after `event`, or a 431 naming the state when the event is not allowed there.
    public static func next(_ state: VolumeState, on event: VolumeEvent) throws -> VolumeState {
        switch (state, event) {
        case (.allocated, .createRequested): return .creating
        case (.creating, .createSucceeded): return .ready
        case (.creating, .createFailed): return .allocated
        case (.ready, .resizeRequested): return .resizing
        case (.resizing, .resizeSucceeded): return .ready
        case (.resizing, .resizeFailed): return .ready
        case (.allocated, .destroyRequested), (.ready, .destroyRequested): return .destroy
        case (.destroy, .expungeSucceeded): return .expunged
        // The storage could not be deleted: the row stays in Destroy, holding its capacity, and a retry may finish it.
        case (.destroy, .expungeFailed): return .destroy
        case (.destroy, .destroyRequested): return .destroy
        case (.destroy, .destroyAbandoned): return .ready
        default:
            throw LunarError.refused("the volume is \(state.rawValue); \(describe(event)) is not possible now")
        }
    }

    static func describe(_ event: VolumeEvent) -> String {
        switch event {
        case .createRequested, .createSucceeded, .createFailed: "creating its storage"
        case .resizeRequested, .resizeSucceeded, .resizeFailed: "resizing it"
        case .destroyRequested, .expungeSucceeded, .expungeFailed, .destroyAbandoned: "deleting it"
        }
    }
}
