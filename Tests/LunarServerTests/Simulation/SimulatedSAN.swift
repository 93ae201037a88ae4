import LunarAgent
import LunarModel
import LunarStorage
import LunarWire
import NIOCore
import Synchronization

/// The simulation's storage: volumes, which initiator may reach which, and the blocks written —
/// checked on every I/O, so a revoke fences at once as Lunar's SAN does. Shared by the provider
/// (server side) and the adaptors (agent side).
final class SimulatedSAN: Sendable {
    struct State {
        var volumes: Set<String> = []
        var access: [String: Set<String>] = [:]
        var blocks: [String: [UInt64: ByteBuffer]] = [:]
        var refusedGrants = 0
        /// The control plane does not answer (its data path still checks access on every I/O).
        var unreachable = false
        /// Writes accepted from an initiator the volume did not allow (must stay 0).
        var unfencedWrites = 0
    }

    let state = Mutex(State())
    /// Chance in [0, 1) that a grant is refused (the SAN says no).
    let refusal: Mutex<SplitMix64>
    let refusalRate: Double

    init(seed: UInt64, refusalRate: Double) {
        refusal = Mutex(SplitMix64(state: seed ^ 0x5A5A))
        self.refusalRate = refusalRate
    }

    func setUnreachable(_ value: Bool) { state.withLock { $0.unreachable = value } }

    /// Thrown by every provider call while the SAN is unreachable.
    func checkReachable(from life: ProcessLife? = nil) throws {
        if let life, !life.isAlive { throw LunarError.unavailable("this server process has died") }
        if state.withLock({ $0.unreachable }) { throw LunarError.unavailable("the simulated SAN is unreachable") }
    }

    func mayReach(_ path: String, _ initiator: String) -> Bool {
        state.withLock { $0.access[path]?.contains(initiator) ?? false }
    }

    func access() -> Set<StorageAccess> {
        state.withLock { state in Set(state.access.flatMap { path, initiators in initiators.map { StorageAccess(path: path, initiator: $0) } }) }
    }

    func refuseThisGrant() -> Bool {
        refusal.withLock { Double($0.next() % 10_000) / 10_000 < refusalRate }
    }
}

/// The server's provider for the simulated SAN (managed, like `lunar`).
struct SimulatedStorageProvider: StorageProvider {
    let san: SimulatedSAN
    /// The server process this provider lives in: once it has died, every call fails (a crashed
    /// server sends nothing to the SAN).
    var life: ProcessLife? = nil
    let name = "sim"
    let isManaged = true
    /// It stands in for the Lunar SAN.
    let qosEnforcement = QoSEnforcement.storage

    static func path(_ volume: VolumeDescriptor) -> String { "/iqn.2026-11.sim:\(volume.id.uuid)/0" }

    func initialize(_ pool: PoolDescriptor) async throws -> PoolCapacity { PoolCapacity(totalBytes: 1 << 50, usedBytes: 0, totalIOPS: 10_000_000) }
    func attach(_ pool: PoolDescriptor, to attachment: PoolAttachment) async throws {}
    func enterMaintenance(_ pool: PoolDescriptor) async throws {}
    func cancelMaintenance(_ pool: PoolDescriptor) async throws {}
    func delete(_ pool: PoolDescriptor) async throws {}

    func createVolume(_ volume: VolumeDescriptor, in pool: PoolDescriptor) async throws -> String {
        try san.checkReachable(from: life)
        let path = Self.path(volume)
        _ = san.state.withLock { $0.volumes.insert(path) }
        return path
    }

    func deleteVolume(_ volume: VolumeDescriptor, in pool: PoolDescriptor) async throws {
        try san.checkReachable(from: life)
        let path = volume.path ?? Self.path(volume)
        san.state.withLock { state in
            state.volumes.remove(path)
            state.access[path] = nil
            state.blocks[path] = nil
        }
    }

    func grantAccess(to volume: VolumeDescriptor, for host: HostDescriptor, in pool: PoolDescriptor) async throws -> VolumeConnection {
        try san.checkReachable(from: life)
        guard let initiator = host.initiatorIQN else { throw LunarError.refused("no initiator") }
        if san.refuseThisGrant() {
            san.state.withLock { $0.refusedGrants += 1 }
            throw LunarError(.internalError, "the simulated SAN refused the grant")
        }
        let path = volume.path ?? Self.path(volume)
        _ = san.state.withLock { $0.access[path, default: []].insert(initiator) }
        return .iscsi(portal: "sim:3260", iqn: String(path.dropFirst().split(separator: "/")[0]), lun: 0, chapUser: nil, chapSecret: nil)
    }

    func revokeAccess(to volume: VolumeDescriptor, for host: HostDescriptor, in pool: PoolDescriptor) async throws {
        try san.checkReachable(from: life)
        guard let initiator = host.initiatorIQN else { return }
        let path = volume.path ?? Self.path(volume)
        _ = san.state.withLock { $0.access[path]?.remove(initiator) }
    }

    func resize(_ volume: VolumeDescriptor, toBytes newSizeBytes: Int64, minIOPS: Int64?, maxIOPS: Int64?, in pool: PoolDescriptor) async throws {}
    func capacity(of pool: PoolDescriptor) async throws -> PoolCapacity { PoolCapacity(totalBytes: 1 << 50, usedBytes: 0, totalIOPS: 10_000_000) }
    func accessList(in pool: PoolDescriptor) async throws -> Set<StorageAccess> {
        try san.checkReachable(from: life)
        return san.access()
    }

    func removeAccess(_ access: StorageAccess, in pool: PoolDescriptor) async throws {
        try san.checkReachable(from: life)
        _ = san.state.withLock { $0.access[access.path]?.remove(access.initiator) }
    }

    /// A simulated host that is down does no I/O: the investigation always finds it silent.
    func activity(of host: HostDescriptor, in pool: PoolDescriptor) async throws -> SANInitiatorActivity? {
        SANInitiatorActivity(initiator: host.initiatorIQN ?? "", sessions: 0, idleMilliseconds: nil)
    }
}

/// The agents' adaptor for the simulated SAN: connect checks access; every I/O checks it again.
actor SimulatedDiskAdaptor: StorageAdaptor {
    nonisolated let poolType = "sim"
    let san: SimulatedSAN
    let initiator: String
    var disks: [VolumeID: SimulatedDisk] = [:]

    init(san: SimulatedSAN, initiator: String) {
        self.san = san
        self.initiator = initiator
    }

    func connect(_ disk: DiskSpec) async throws -> any PhysicalDisk {
        if let existing = disks[disk.volumeID] { return existing }
        guard case .iscsi(_, let iqn, _, _, _) = disk.connection else { throw AgentFailure(.badRequest, "not iSCSI") }
        let path = "/\(iqn)/0"
        guard san.mayReach(path, initiator) else { throw AgentFailure(.accessDenied, "login refused: authorization failure") }
        let connected = SimulatedDisk(volumeID: disk.volumeID, path: path, initiator: initiator, san: san, blockCount: UInt64(disk.sizeBytes / 512))
        disks[disk.volumeID] = connected
        return connected
    }

    func disconnect(_ volumeID: VolumeID) async { disks[volumeID] = nil }
    func physicalDisk(_ volumeID: VolumeID) async -> (any PhysicalDisk)? { disks[volumeID] }
    func connectedDisks() async -> [VolumeID] { Array(disks.keys) }
}

struct SimulatedDisk: PhysicalDisk {
    let volumeID: VolumeID
    let path: String
    let initiator: String
    let san: SimulatedSAN
    let blockSize = 512
    let blockCount: UInt64

    func read(lba: UInt64, blocks: UInt32) async throws -> ByteBuffer {
        guard san.mayReach(path, initiator) else { throw AgentFailure(.ioError, "fenced") }
        let stored = san.state.withLock { $0.blocks[path]?[lba] }
        if let stored, blocks == 8 { return stored }
        return ByteBuffer(repeating: 0, count: Int(blocks) * blockSize)
    }

    func write(lba: UInt64, data: ByteBuffer, fua: Bool) async throws {
        let accepted = san.state.withLock { state -> Bool in
            guard state.access[path]?.contains(initiator) ?? false else { return false }
            state.blocks[path, default: [:]][lba] = data
            return true
        }
        guard accepted else { throw AgentFailure(.ioError, "fenced") }
    }
}

/// Faults from a seeded generator, for the commands that change something.
final class SeededFaults: AgentFaultInjector {
    let generator: Mutex<SplitMix64>
    let rate: Double

    init(seed: UInt64, rate: Double) {
        generator = Mutex(SplitMix64(state: seed))
        self.rate = rate
    }

    func fault(for command: AgentCommand) async -> AgentFault? {
        switch command {
        case .checkVMs, .modifyStoragePool, .cleanUp, .readyForShutdown: return nil
        default: break
        }
        return generator.withLock { generator in
            guard Double(generator.next() % 10_000) / 10_000 < rate else { return nil }
            return AgentFault.allCases[Int(generator.next() % UInt64(AgentFault.allCases.count))]
        }
    }
}

/// Whether a simulated server process still lives.
final class ProcessLife: Sendable {
    private let alive = Mutex(true)
    var isAlive: Bool { alive.withLock { $0 } }
    func die() { alive.withLock { $0 = false } }
}
