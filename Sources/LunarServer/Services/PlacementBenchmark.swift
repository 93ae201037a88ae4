import Foundation
import Logging
import LunarModel
import SQLKit

/// `lunar bench placement`: how long a placement decision takes with many pools and volumes,
/// measured two ways: the allocator alone over every pool of the zone, and the whole placement
/// transaction (read the zone's pools, choose, reserve, commit) on a real SQLite file.
public enum PlacementBenchmark {
    public struct Configuration: Sendable {
        public var pools = 10_000
        public var volumes = 100_000
        public var decisions = 1_000
        public var transactions = 200
        public var seed: UInt64 = 1
        public var directory: String

        public init(directory: String) { self.directory = directory }
    }

    public struct Result: Sendable {
        public var allocatorMicroseconds: [Double]
        public var transactionMicroseconds: [Double]
        public var loadSeconds: Double

        public func report(_ configuration: Configuration) -> String {
            func percentile(_ values: [Double], _ fraction: Double) -> Double {
                let sorted = values.sorted()
                return sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
            }
            func line(_ label: String, _ values: [Double]) -> String {
                String(format: "%@ p50 %8.1f µs   p99 %8.1f µs   max %8.1f µs   (n=%d)", label, percentile(values, 0.5), percentile(values, 0.99), values.max() ?? 0, values.count)
            }
            return [
                "placement benchmark: \(configuration.pools) pools, \(configuration.volumes) placed volumes, seed \(configuration.seed)",
                String(format: "loaded in %.1f s", loadSeconds),
                line("allocator alone (all pools of the zone):     ", allocatorMicroseconds),
                line("placement transaction (read+choose+reserve):", transactionMicroseconds),
            ].joined(separator: "\n")
        }
    }

    public static func run(_ configuration: Configuration, logger: Logger) async throws -> Result {
        var random = SplitMix64(state: configuration.seed)
        let path = configuration.directory + "/bench-\(UUID().uuidString).db"
        defer {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
        let database = try await Database.openSQLite(path: path, logger: logger)
        let store = Store(database: database, time: SystemTimeSource())
        _ = try await store.bootstrapRootAdmin(password: "bench")
        let admin = try unwrap(try await store.accounts(id: nil, name: "admin", keyword: nil, window: .all).items.first)
        let zone = Zone(
            id: .random(using: &random), name: "bench", description: nil, networkType: .advanced, dns1: "1.1.1.1", dns2: nil, internalDNS1: "1.1.1.1",
            internalDNS2: nil, guestCIDR: nil, networkDomain: nil, allocationState: .enabled, createdEpochSeconds: 0
        )
        try await store.createZone(zone)

        // Bulk load in one transaction: pools with assorted tags and capacities, volumes spread over them.
        let loadStart = ContinuousClock.now
        let tagChoices = [[], ["ssd"], ["ssd", "fast"], ["hdd"]]
        var pools: [StoragePool] = []
        for index in 0..<configuration.pools {
            pools.append(
                StoragePool(
                    id: .random(using: &random), name: String(format: "pool-%05d", index), zoneID: zone.id, podID: nil, clusterID: nil, scope: .zone,
                    url: "file:///nonexistent", provider: "local", isManaged: false, capacityBytes: 100 << 40,
                    capacityIOPS: Int64.random(in: 50_000...200_000, using: &random), allocatedBytes: 0, allocatedIOPS: 0,
                    tags: tagChoices[Int.random(in: 0..<tagChoices.count, using: &random)],
                    hypervisor: nil, state: index % 50 == 0 ? .maintenance : .up, createdEpochSeconds: 0
                )
            )
        }
        try await database.write { sql in
            for pool in pools {
                try await store.insert(sql, into: "storage_pools", [
                    ("id", pool.id.uuid), ("name", pool.name), ("zone_id", pool.zoneID.uuid), ("scope", pool.scope.rawValue), ("url", pool.url),
                    ("provider", pool.provider), ("managed", 0), ("capacity_bytes", pool.capacityBytes), ("capacity_iops", pool.capacityIOPS),
                    ("tags", StorageTags.join(pool.tags)), ("state", pool.state.rawValue), ("created", Int64(0)),
                ])
            }
            for index in 0..<configuration.volumes {
                let poolIndex = Int.random(in: 0..<pools.count, using: &random)
                let size = Int64.random(in: 1...100, using: &random) << 30
                let minIOPS = Int64.random(in: 100...1_000, using: &random)
                pools[poolIndex].allocatedBytes += size
                pools[poolIndex].allocatedIOPS += minIOPS
                try await store.insert(sql, into: "volumes", [
                    ("id", VolumeID.random(using: &random).uuid), ("name", "v\(index)"), ("account_id", admin.id.uuid), ("zone_id", zone.id.uuid),
                    ("type", "DATADISK"), ("size_bytes", size), ("min_iops", minIOPS), ("max_iops", minIOPS * 2), ("state", "Ready"),
                    ("pool_id", pools[poolIndex].id.uuid), ("path", "/bench/v\(index)"), ("provisioning_type", "thin"), ("created", Int64(0)),
                ])
            }
            for pool in pools {
                try await store.adjustPool(sql, pool.id, bytes: pool.allocatedBytes, iops: pool.allocatedIOPS)
            }
        }
        let loadSeconds = Double((ContinuousClock.now - loadStart).components.attoseconds) / 1e18 + Double((ContinuousClock.now - loadStart).components.seconds)

        // The allocator alone, over a snapshot of every pool in the zone.
        let snapshot = try await database.read { sql in try await store.placementCandidates(sql, zoneID: zone.id) }
        var allocatorTimes: [Double] = []
        var chosenCount = 0
        for _ in 0..<configuration.decisions {
            let request = PlacementRequest(
                zoneID: zone.id, clusterID: nil, requiredTags: tagChoices[Int.random(in: 0..<tagChoices.count, using: &random)],
                bytes: Int64.random(in: 1...100, using: &random) << 30, minIOPS: Int64.random(in: 100...5_000, using: &random)
            )
            let start = ContinuousClock.now
            if case .success = PoolAllocator.choose(request, among: snapshot) { chosenCount += 1 }
            allocatorTimes.append(microseconds(ContinuousClock.now - start))
        }
        precondition(chosenCount > 0, "the benchmark's requests should mostly fit")

        // Whole placement transactions on fresh Allocated volumes.
        var transactionTimes: [Double] = []
        for index in 0..<configuration.transactions {
            let volume = Volume(
                id: .random(using: &random), name: "t\(index)", accountID: admin.id, zoneID: zone.id, diskOfferingID: nil, kind: .dataDisk,
                sizeBytes: 10 << 30, minIOPS: 500, maxIOPS: 1_000, hypervisorSnapshotReservePercent: nil, state: .allocated, poolID: nil, path: nil,
                provisioningType: .thin, rateLimits: HypervisorRateLimits(), virtualMachineID: nil, deviceID: nil, createdEpochSeconds: 0
            )
            try await store.insertVolume(volume)
            let start = ContinuousClock.now
            _ = try await store.placeVolume(volume.id, clusterID: nil, onPool: nil, requiredTags: ["ssd"])
            transactionTimes.append(microseconds(ContinuousClock.now - start))
        }
        let mismatches = try await store.poolAccountingMismatches()
        precondition(mismatches.isEmpty, "accounting drifted: \(mismatches.prefix(3))")
        await database.close()
        return Result(allocatorMicroseconds: allocatorTimes, transactionMicroseconds: transactionTimes, loadSeconds: loadSeconds)
    }

    static func microseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1e6 + Double(duration.components.attoseconds) / 1e12
    }
}

/// The value, or a 530 saying what was missing.
func unwrap<T>(_ value: T?, _ message: @autoclosure () -> String = "missing value") throws -> T {
    guard let value else { throw LunarError(.internalError, message()) }
    return value
}
