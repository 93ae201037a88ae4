import LunarModel

/// Everything an agent needs to run a VM: its disks (with how to reach each) and its workload.
public struct VMSpec: Codable, Sendable, Equatable {
    public var id: VirtualMachineID
    public var name: String
    public var cpuCores: Int
    public var memoryMB: Int
    public var disks: [DiskSpec]
    public var workload: WorkloadSpec

    public init(id: VirtualMachineID, name: String, cpuCores: Int, memoryMB: Int, disks: [DiskSpec], workload: WorkloadSpec) {
        self.id = id
        self.name = name
        self.cpuCores = cpuCores
        self.memoryMB = memoryMB
        self.disks = disks
        self.workload = workload
    }
}

/// One disk of a VM: the volume, its slot, and how the host reaches it. The pool type picks the
/// storage adaptor; nothing is guessed from the path.
public struct DiskSpec: Codable, Sendable, Equatable {
    public var volumeID: VolumeID
    public var deviceID: Int
    public var poolType: String
    public var sizeBytes: Int64
    public var connection: DiskConnection
    /// Limits the hypervisor enforces on this disk (QEMU throttle groups); nil: none.
    public var limits: HypervisorRateLimits?
    /// A cap on all IOs per second the hypervisor enforces, for storage that cannot (a `local`
    /// pool holding a volume whose offering has a maximum).
    public var totalIOPSLimit: Int64?

    public init(volumeID: VolumeID, deviceID: Int, poolType: String, sizeBytes: Int64, connection: DiskConnection, limits: HypervisorRateLimits? = nil, totalIOPSLimit: Int64? = nil) {
        self.totalIOPSLimit = totalIOPSLimit
        self.volumeID = volumeID
        self.deviceID = deviceID
        self.poolType = poolType
        self.sizeBytes = sizeBytes
        self.connection = connection
        self.limits = limits
    }
}

/// How a host reaches a disk: an iSCSI target (with CHAP from the grant) or a file.
public enum DiskConnection: Codable, Sendable, Equatable {
    case iscsi(portal: String, iqn: String, lun: Int, chapUser: String?, chapSecret: String?)
    case file(path: String)
}

/// What a simulated VM does with its disks.
public struct WorkloadSpec: Codable, Sendable, Equatable {
    public enum Mode: String, Codable, Sendable {
        /// Boots (reads block 0 of each disk) and then only answers.
        case idle
        /// Writes numbered 4 KiB blocks round-robin over each disk, FUA, and remembers every
        /// acknowledged one, so a migration or failover can prove none was lost.
        case journal
    }

    public var mode: Mode
    /// Outstanding writes per disk.
    public var queueDepth: Int
    /// Blocks per disk the journal cycles over.
    public var journalBlocks: Int

    public init(mode: Mode, queueDepth: Int = 1, journalBlocks: Int = 64) {
        self.mode = mode
        self.queueDepth = queueDepth
        self.journalBlocks = journalBlocks
    }

    public static let idle = WorkloadSpec(mode: .idle)
}

extension DiskSpec {
    /// The spec without its CHAP secret, to keep on disk.
    public var withoutSecret: DiskSpec {
        var copy = self
        if case .iscsi(let portal, let iqn, let lun, let user, _) = connection { copy.connection = .iscsi(portal: portal, iqn: iqn, lun: lun, chapUser: user, chapSecret: nil) }
        return copy
    }
}
