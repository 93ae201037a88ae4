import Foundation
import LunarModel
@testable import LunarServer
import Testing

/// The database's fast path (`bestPool`) must choose exactly what the pure allocator chooses.
struct PlacementAgreementTests {

    @Test func databaseAndAllocatorAgreeOverRandomPools() async throws {
        for seed in UInt64(1)...25 {
            var random = SplitMix64(state: seed)
            let database = try await Database.openSQLite(path: nil, logger: TestSupport.quietLogger)
            let store = Store(database: database, time: SystemTimeSource())
            let zone = Zone(
                id: .random(using: &random), name: "z", description: nil, networkType: .basic, dns1: "1", dns2: nil, internalDNS1: "1",
                internalDNS2: nil, guestCIDR: nil, networkDomain: nil, allocationState: .enabled, createdEpochSeconds: 0
            )
            try await store.createZone(zone)
            let pod = Pod(
                id: .random(using: &random), name: "p", zoneID: zone.id, gateway: nil, netmask: nil, startIP: nil, endIP: nil,
                allocationState: .enabled, createdEpochSeconds: 0
            )
            try await store.createPod(pod)
            var clusters: [ClusterID] = []
            for index in 0..<2 {
                let cluster = try await store.addCluster(
                    Cluster(
                        id: .random(using: &random), name: "c\(index)", zoneID: zone.id, podID: pod.id, hypervisor: .simulator, kind: .cloudManaged,
                        allocationState: .enabled, createdEpochSeconds: 0
                    ),
                    podGiven: true
                )
                clusters.append(cluster.id)
            }
            let tagSets: [[String]] = [[], ["ssd"], ["ssd", "fast"], ["a_b"], ["axb"]]
            for index in 0..<Int.random(in: 1...40, using: &random) {
                let capacity = Int64.random(in: 1...10, using: &random) * 1000 + Int64.random(in: 0...999, using: &random)
                let capacityIOPS: Int64? = Bool.random(using: &random) ? Int64.random(in: 1...10, using: &random) * 1000 : nil
                let cluster = [nil, clusters[0], clusters[1]][Int.random(in: 0...2, using: &random)]
                var pool = StoragePool(
                    id: .random(using: &random), name: String(format: "pool%02d", index), zoneID: zone.id, podID: cluster == nil ? nil : pod.id,
                    clusterID: cluster, scope: cluster == nil ? .zone : .cluster, url: "file:///x", provider: "local", isManaged: false,
                    capacityBytes: capacity, capacityIOPS: capacityIOPS, allocatedBytes: 0, allocatedIOPS: 0,
                    tags: tagSets[Int.random(in: 0..<tagSets.count, using: &random)], hypervisor: nil,
                    state: [.up, .up, .up, .maintenance, .disabled][Int.random(in: 0...4, using: &random)], createdEpochSeconds: 0
                )
                // Storage that reserves minimums or not, strict or not: preference and refusal agree too.
                pool.guaranteesMinimum = Bool.random(using: &random)
                pool.strictQoS = Bool.random(using: &random)
                try await store.createStoragePool(pool)
                // Some capacity already used (often exactly full, to probe the boundaries).
                try await database.write { sql in
                    let pools = try await store.placementCandidates(sql, zoneID: zone.id)
                    let pool = pools.first { $0.name == String(format: "pool%02d", index) }!
                    let bytes = Bool.random(using: &random) ? capacity : Int64.random(in: 0...capacity, using: &random)
                    let iops = capacityIOPS.map { Bool.random(using: &random) ? $0 : Int64.random(in: 0...$0, using: &random) } ?? Int64.random(in: 0...5000, using: &random)
                    try await store.adjustPool(sql, pool.id, bytes: bytes, iops: iops)
                }
            }
            for _ in 0..<40 {
                let request = PlacementRequest(
                    zoneID: zone.id, clusterID: [nil, clusters[0], clusters[1]][Int.random(in: 0...2, using: &random)],
                    requiredTags: tagSets[Int.random(in: 0..<tagSets.count, using: &random)], bytes: Int64.random(in: 0...3000, using: &random),
                    minIOPS: Int64.random(in: 0...3000, using: &random),
                    overprovisioningPermille: [1000, 2000, 1500, 100, 3333][Int.random(in: 0...4, using: &random)]
                )
                let (fast, all) = try await database.read { sql in
                    (try await store.bestPool(sql, for: request), try await store.placementCandidates(sql, zoneID: zone.id))
                }
                let slow = try? PoolAllocator.choose(request, among: all).get()
                #expect(fast?.id == slow?.id, "seed \(seed): database chose \(fast?.name ?? "nothing"), allocator \(slow?.name ?? "nothing") for \(request)")
            }
            await database.close()
        }
    }
}
