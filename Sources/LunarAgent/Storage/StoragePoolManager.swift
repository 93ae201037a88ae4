import LunarModel
import LunarWire

/// Picks the storage adaptor by the disk's pool type, never by guessing from a path, and knows
/// the pools the server said this host serves.
public actor StoragePoolManager {
    let adaptors: [String: any StorageAdaptor]
    public private(set) var pools: [StoragePoolID: PoolSpec] = [:]

    public init(adaptors: [any StorageAdaptor]) {
        self.adaptors = Dictionary(adaptors.map { ($0.poolType, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public func adaptor(for poolType: String) throws -> any StorageAdaptor {
        guard let adaptor = adaptors[poolType] else {
            throw AgentFailure(.badRequest, "no storage adaptor for pool type \(poolType) (have: \(adaptors.keys.sorted().joined(separator: ", ")))")
        }
        return adaptor
    }

    public func modify(_ pool: PoolSpec) throws {
        _ = try adaptor(for: pool.type)
        pools[pool.id] = pool
    }

    public func connect(_ disk: DiskSpec) async throws -> any PhysicalDisk {
        try await adaptor(for: disk.poolType).connect(disk)
    }

    public func disconnect(_ disk: DiskSpec) async throws {
        guard let adaptor = adaptors[disk.poolType] else { return }
        try await adaptor.disconnect(disk.volumeID)
    }

    /// Disconnects a volume from whichever adaptor holds it; every adaptor is tried, and the
    /// first failure is thrown after.
    public func disconnect(_ volumeID: VolumeID) async throws {
        var failure: (any Error)?
        for adaptor in adaptors.values {
            do { try await adaptor.disconnect(volumeID) } catch { failure = failure ?? error }
        }
        if let failure { throw failure }
    }

    /// Every connected disk, across adaptors.
    public func connectedDisks() async -> [VolumeID] {
        var all: [VolumeID] = []
        for adaptor in adaptors.values { all += await adaptor.connectedDisks() }
        return all.sorted()
    }
}
