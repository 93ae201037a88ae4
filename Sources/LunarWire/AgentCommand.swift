import LunarModel

/// What the server asks of an agent. Every command is idempotent: repeating one whose answer was
/// lost does no harm and answers the same.
public enum AgentCommand: Codable, Sendable, Equatable {
    /// Connect every disk of the spec, then start the VM; on failure disconnect what was connected.
    case startVM(VMSpec)
    /// Stop the VM, then disconnect its disks.
    case stopVM(VirtualMachineID)
    /// Connect the disk and give it to the running VM.
    case attachVolume(vm: VirtualMachineID, disk: DiskSpec)
    /// Take the disk from the VM, then disconnect it.
    case detachVolume(vm: VirtualMachineID, volume: VolumeID)
    /// Connect the disks and hold a paused receiver for the VM.
    case prepareForMigration(VMSpec)
    /// Stop the VM's writes, hand its state to the destination, answer once it runs there. The
    /// disks stay connected here until the server says `stopVM`.
    case migrateVM(vm: VirtualMachineID, destination: MigrationDestination)
    /// Resume a prepared receiver with the state the source handed over.
    case resumeMigratedVM(vm: VirtualMachineID, state: VMState)
    /// Abandon a prepared receiver (rollback), disconnecting its disks.
    case cancelMigration(VirtualMachineID)
    /// Change a running VM's disk throttle live (a resize changed the volume's limits).
    case setDiskLimits(vm: VirtualMachineID, volume: VolumeID, limits: HypervisorRateLimits?, totalIOPSLimit: Int64?)
    /// Tells the agent about a pool it has to serve.
    case modifyStoragePool(PoolSpec)
    /// Report what runs here.
    case checkVMs
    /// Stop these VMs and disconnect these volumes (detaching them first from any VM here that
    /// still has one): what the host holds that the server does not expect there. Lists, not "keep only", so a VM started
    /// after the server looked is never swept away.
    case cleanUp(stopVMs: [VirtualMachineID], disconnectVolumes: [VolumeID])
    /// Whether the host has nothing running (before maintenance or shutdown).
    case readyForShutdown

    /// How long the server waits for the answer.
    public var timeoutSeconds: Int {
        switch self {
        case .startVM, .prepareForMigration, .migrateVM: 120
        case .attachVolume, .detachVolume, .stopVM, .cleanUp, .resumeMigratedVM, .cancelMigration: 60
        case .modifyStoragePool, .checkVMs, .readyForShutdown, .setDiskLimits: 20
        }
    }

    /// A short name for logs and journals.
    public var name: String {
        switch self {
        case .startVM: "StartVM"
        case .stopVM: "StopVM"
        case .attachVolume: "AttachVolume"
        case .detachVolume: "DetachVolume"
        case .prepareForMigration: "PrepareForMigration"
        case .migrateVM: "MigrateVM"
        case .resumeMigratedVM: "ResumeMigratedVM"
        case .cancelMigration: "CancelMigration"
        case .setDiskLimits: "SetDiskLimits"
        case .modifyStoragePool: "ModifyStoragePool"
        case .checkVMs: "CheckVMs"
        case .cleanUp: "CleanUp"
        case .readyForShutdown: "ReadyForShutdown"
        }
    }
}

/// Where a migrating VM goes: the destination host (the server relays the state to its agent).
public struct MigrationDestination: Codable, Sendable, Equatable {
    public var hostID: HostID
    public var hostName: String
    /// Where the destination's receiver listens, from its `prepareForMigration` answer (QEMU);
    /// nil for the simulator, whose state the server relays.
    public var uri: String?

    public init(hostID: HostID, hostName: String, uri: String? = nil) {
        self.hostID = hostID
        self.hostName = hostName
        self.uri = uri
    }
}

/// A pool as the agent needs it.
public struct PoolSpec: Codable, Sendable, Equatable {
    public var id: StoragePoolID
    public var name: String
    public var type: String

    public init(id: StoragePoolID, name: String, type: String) {
        self.id = id
        self.name = name
        self.type = type
    }
}
