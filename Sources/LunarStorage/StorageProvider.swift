import LunarModel

/// A primary storage provider: a lifecycle for its pools and a driver for their volumes.
/// The management server knows providers only through this contract and the registry.
public protocol StorageProvider: StorageLifecycle, StorageDriver {
    /// The name `createStoragePool provider=` uses, e.g. `local`.
    var name: String { get }
    /// Managed: one LUN per volume, access granted per host, QoS at the storage.
    /// Unmanaged: volumes are files on storage every host of the scope reaches; QoS only at the hypervisor.
    var isManaged: Bool { get }
    /// Where a volume's offering IOPS are enforced on this provider's pools (DESIGN.md, "Who
    /// enforces an offering's IOPS"): answered in every volume response as `qosenforcedby`.
    var qosEnforcement: QoSEnforcement { get }
}

/// Who holds a volume's minimum and maximum IOPS.
public enum QoSEnforcement: String, Sendable, Hashable, CaseIterable {
    /// The storage reserves the minimum and caps the maximum (the Lunar SAN).
    case storage = "storage"
    /// The storage caps the maximum but reserves no minimum (Ceph RBD).
    case storageMaxOnly = "storage (max only)"
    /// The hypervisor throttles the maximum (QEMU); no minimum.
    case hypervisor = "hypervisor"
    /// Nothing enforces it.
    case none = "none"

    /// Whether a volume with a minimum gets it.
    public var guaranteesMinimum: Bool { self == .storage }
}

extension StorageProvider {
    public var qosEnforcement: QoSEnforcement { .none }
}

/// What a pool looks like to its provider.
public struct PoolDescriptor: Sendable, Hashable {
    public var id: StoragePoolID
    public var name: String
    public var url: String
    public var capacityBytes: Int64?
    public var capacityIOPS: Int64?
    public var details: [String: String]

    public init(id: StoragePoolID, name: String, url: String, capacityBytes: Int64?, capacityIOPS: Int64?, details: [String: String] = [:]) {
        self.id = id
        self.name = name
        self.url = url
        self.capacityBytes = capacityBytes
        self.capacityIOPS = capacityIOPS
        self.details = details
    }
}

/// What the provider found when it set a pool up.
public struct PoolCapacity: Sendable, Hashable {
    /// What the storage can hold.
    public var totalBytes: Int64
    /// What is really written there (thin volumes use less than they reserve).
    public var usedBytes: Int64
    /// The IOPS the storage can deliver, if it knows.
    public var totalIOPS: Int64?

    public init(totalBytes: Int64, usedBytes: Int64, totalIOPS: Int64?) {
        self.totalBytes = totalBytes
        self.usedBytes = usedBytes
        self.totalIOPS = totalIOPS
    }
}

/// Where a pool's scope puts it.
public enum PoolAttachment: Sendable, Hashable {
    case zone(ZoneID)
    case cluster(ClusterID)
}

/// A pool's lifecycle (CloudStack's `DataStoreLifeCycle`).
public protocol StorageLifecycle: Sendable {
    /// Checks the pool's URL and parameters and prepares the storage (`createStoragePool`).
    /// - Returns: the capacity found.
    /// - Throws: a 431 for a URL or parameter the provider cannot use.
    func initialize(_ pool: PoolDescriptor) async throws -> PoolCapacity
    /// Makes the pool usable by the hosts of a zone or cluster.
    func attach(_ pool: PoolDescriptor, to attachment: PoolAttachment) async throws
    func enterMaintenance(_ pool: PoolDescriptor) async throws
    func cancelMaintenance(_ pool: PoolDescriptor) async throws
    /// Releases the pool. Called only once no volume lives there.
    func delete(_ pool: PoolDescriptor) async throws
}

/// What a volume looks like to its provider.
public struct VolumeDescriptor: Sendable, Hashable {
    public var id: VolumeID
    public var name: String
    /// The size the VM sees.
    public var sizeBytes: Int64
    /// Extra space for hypervisor snapshots, percent of the size (managed storage provisions it).
    public var snapshotReservePercent: Int?
    public var minIOPS: Int64?
    public var maxIOPS: Int64?
    /// Where it was put, once created.
    public var path: String?

    public init(id: VolumeID, name: String, sizeBytes: Int64, snapshotReservePercent: Int? = nil, minIOPS: Int64?, maxIOPS: Int64?, path: String?) {
        self.id = id
        self.name = name
        self.sizeBytes = sizeBytes
        self.snapshotReservePercent = snapshotReservePercent
        self.minIOPS = minIOPS
        self.maxIOPS = maxIOPS
        self.path = path
    }
}

/// A host asking for a volume.
public struct HostDescriptor: Sendable, Hashable {
    public var id: HostID
    public var name: String
    public var initiatorIQN: String?

    public init(id: HostID, name: String, initiatorIQN: String?) {
        self.id = id
        self.name = name
        self.initiatorIQN = initiatorIQN
    }
}

/// How a host reaches a volume once granted.
public enum VolumeConnection: Sendable, Hashable {
    /// A file on storage the host mounts (unmanaged pools).
    case file(path: String)
    /// An iSCSI target (managed pools).
    case iscsi(portal: String, iqn: String, lun: Int, chapUser: String?, chapSecret: String?)
}

/// A pool's volume operations (CloudStack's `PrimaryDataStoreDriver`). Every operation is
/// idempotent: repeating one after a lost answer does no harm.
public protocol StorageDriver: Sendable {
    /// Creates the volume's storage with its QoS.
    /// - Returns: the path to record for the volume.
    func createVolume(_ volume: VolumeDescriptor, in pool: PoolDescriptor) async throws -> String
    /// Deletes the volume's storage; deleting what is already gone succeeds.
    func deleteVolume(_ volume: VolumeDescriptor, in pool: PoolDescriptor) async throws
    /// Lets `host` reach the volume and says how.
    func grantAccess(to volume: VolumeDescriptor, for host: HostDescriptor, in pool: PoolDescriptor) async throws -> VolumeConnection
    /// Takes `host`'s access away; when this returns the host can no longer write.
    func revokeAccess(to volume: VolumeDescriptor, for host: HostDescriptor, in pool: PoolDescriptor) async throws
    /// Changes the volume's size and QoS (live on managed storage).
    func resize(_ volume: VolumeDescriptor, toBytes newSizeBytes: Int64, minIOPS: Int64?, maxIOPS: Int64?, in pool: PoolDescriptor) async throws
    /// What the storage holds and can hold.
    func capacity(of pool: PoolDescriptor) async throws -> PoolCapacity
    /// Every access the storage gives today (managed storage), for reconciliation.
    func accessList(in pool: PoolDescriptor) async throws -> Set<StorageAccess>
    /// Takes one access away by path (fence semantics), whether or not the server knows the volume.
    func removeAccess(_ access: StorageAccess, in pool: PoolDescriptor) async throws
    /// What the storage saw of the host lately (HA asks whether a silent host is gone); nil when
    /// the storage cannot tell.
    func activity(of host: HostDescriptor, in pool: PoolDescriptor) async throws -> SANInitiatorActivity?
    /// Creates the volume's storage holding a copy of `source`'s data, made by the storage itself
    /// (a root disk from the pool's template volume: no data through the server or a host).
    /// Idempotent as `createVolume` is; the copy is whole once this returns.
    func createVolume(_ volume: VolumeDescriptor, in pool: PoolDescriptor, copyOf source: VolumeDescriptor) async throws -> String
    /// Writes the local file at `path` into the volume from its first byte (a template's image onto
    /// the pool's template volume). Refused while a host is connected to the volume.
    func write(_ volume: VolumeDescriptor, in pool: PoolDescriptor, fromFile path: String) async throws
}

/// One initiator's access to one volume (its recorded path) on managed storage.
public struct StorageAccess: Sendable, Hashable, Comparable {
    public var path: String
    public var initiator: String

    public init(path: String, initiator: String) {
        self.path = path
        self.initiator = initiator
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { (lhs.path, lhs.initiator) < (rhs.path, rhs.initiator) }
}

extension StorageDriver {
    /// Unmanaged storage gives no per-host access.
    public func accessList(in pool: PoolDescriptor) async throws -> Set<StorageAccess> { [] }
    public func removeAccess(_ access: StorageAccess, in pool: PoolDescriptor) async throws {}
    public func activity(of host: HostDescriptor, in pool: PoolDescriptor) async throws -> SANInitiatorActivity? { nil }

    /// Storage that cannot copy volumes takes no templates with an image.
    public func createVolume(_ volume: VolumeDescriptor, in pool: PoolDescriptor, copyOf source: VolumeDescriptor) async throws -> String {
        throw LunarError.refused("storage pool \(pool.name) cannot copy volumes: its root disks cannot start from a template image")
    }

    public func write(_ volume: VolumeDescriptor, in pool: PoolDescriptor, fromFile path: String) async throws {
        throw LunarError.refused("storage pool \(pool.name) cannot be written by the management server: it takes no template images")
    }
}
