import Foundation
import LunarModel
import SQLKit

extension Store {
    public func createStoragePool(_ pool: StoragePool, details: [String: String] = [:]) async throws {
        try await database.write { sql in
            if try await sql.raw("SELECT 1 FROM storage_pools WHERE name = \(bind: pool.name)").first() != nil {
                throw LunarError.refused("A storage pool named \(pool.name) already exists")
            }
            var stored = details
            if let secrets { for key in Self.secretDetails { if let value = stored[key] { stored[key] = try secrets.seal(value) } } }
            let detailsText = String(decoding: try JSONEncoder.sorted.encode(stored), as: UTF8.self)
            try await insert(sql, into: "storage_pools", [
                ("id", pool.id.uuid), ("name", pool.name), ("zone_id", pool.zoneID.uuid), ("pod_id", pool.podID?.uuid),
                ("cluster_id", pool.clusterID?.uuid), ("scope", pool.scope.rawValue), ("url", pool.url), ("provider", pool.provider),
                ("managed", pool.isManaged ? 1 : 0), ("capacity_bytes", pool.capacityBytes), ("capacity_iops", pool.capacityIOPS),
                ("allocated_bytes", Int64(0)), ("allocated_iops", Int64(0)), ("tags", StorageTags.join(pool.tags)),
                ("hypervisor", pool.hypervisor?.rawValue), ("state", pool.state.rawValue), ("details", detailsText),
                ("created", pool.createdEpochSeconds), ("guarantees_minimum", pool.guaranteesMinimum ? 1 : 0), ("strict_qos", pool.strictQoS ? 1 : 0),
            ])
        }
    }

    public func storagePool(_ id: StoragePoolID) async throws -> StoragePool? {
        try await database.read { sql in
            try await sql.raw("SELECT * FROM storage_pools WHERE id = \(bind: id.uuid)").first().map(Self.storagePool(from:))
        }
    }

    /// The provider's view of a pool (its details included).
    public func poolDescriptor(_ id: StoragePoolID) async throws -> (StoragePool, [String: String])? {
        try await database.read { sql in
            guard let row = try await sql.raw("SELECT * FROM storage_pools WHERE id = \(bind: id.uuid)").first() else { return nil }
            var details = try JSONDecoder().decode([String: String].self, from: Data(try row.decode(column: "details", as: String.self).utf8))
            if let secrets { for key in Self.secretDetails { if let value = details[key] { details[key] = try secrets.open(value) } } }
            return (try Self.storagePool(from: row), details)
        }
    }

    public func storagePools(
        id: StoragePoolID?, zoneID: ZoneID?, clusterID: ClusterID?, name: String?, scope: StoragePool.Scope?, keyword: String?, window: ListWindow
    ) async throws -> Page<StoragePool> {
        try await database.read { sql in
            try await page(sql, table: "storage_pools", window: window) { query in
                var query = query.filter("id", equals: id?.uuid).filter("zone_id", equals: zoneID?.uuid).filter("cluster_id", equals: clusterID?.uuid)
                    .filter("name", equals: name).filter("scope", equals: scope?.rawValue)
                if let keyword { query = query.where(SQLColumn("name"), .like, SQLBind(Self.like(keyword))) }
                return query
            } map: { try Self.storagePool(from: $0) }
        }
    }

    /// Changes capacities, tags or the enabled state. Capacities cannot drop below what is
    /// already allocated.
    public func updateStoragePool(
        _ id: StoragePoolID, capacityBytes: Int64?, capacityIOPS: Int64?, tags: [String]?, enabled: Bool?, strictQoS: Bool? = nil
    ) async throws -> StoragePool {
        try await database.write { sql in
            guard let row = try await sql.raw("SELECT * FROM storage_pools WHERE id = \(bind: id.uuid)").first() else {
                throw LunarError.unknownID("storage pool", id.uuid)
            }
            var pool = try Self.storagePool(from: row)
            if let capacityBytes {
                guard capacityBytes > 0 else { throw LunarError.invalidParameter("capacitybytes", value: String(capacityBytes), reason: "must be positive") }
                // Thin: what is allocated must fit the new capacity × storage.overprovisioning.factor.
                var resized = pool
                resized.capacityBytes = capacityBytes
                let request = PlacementRequest(
                    zoneID: pool.zoneID, clusterID: nil, requiredTags: [], bytes: 0, minIOPS: 0, overprovisioningPermille: try await overprovisioningPermille(sql)
                )
                guard request.effectiveCapacityBytes(resized) >= pool.allocatedBytes else {
                    throw LunarError.refused(
                        "capacitybytes \(capacityBytes) × the overprovisioning factor is below the \(pool.allocatedBytes) bytes already allocated on pool \(pool.name)"
                    )
                }
                pool.capacityBytes = capacityBytes
            }
            if let capacityIOPS {
                guard capacityIOPS > 0 else { throw LunarError.invalidParameter("capacityiops", value: String(capacityIOPS), reason: "must be positive") }
                guard capacityIOPS >= pool.allocatedIOPS else {
                    throw LunarError.refused("capacityiops \(capacityIOPS) is below the \(pool.allocatedIOPS) IOPS already reserved on pool \(pool.name)")
                }
                pool.capacityIOPS = capacityIOPS
            }
            if let tags { pool.tags = tags }
            if let strictQoS { pool.strictQoS = strictQoS }
            if let enabled {
                switch (enabled, pool.state) {
                case (true, .disabled): pool.state = .up
                case (false, .up): pool.state = .disabled
                case (true, .up), (false, .disabled): break
                default: throw LunarError.refused("pool \(pool.name) is \(pool.state.rawValue); cancel maintenance before enabling or disabling it")
                }
            }
            try await sql.update("storage_pools").set("capacity_bytes", to: pool.capacityBytes).set("capacity_iops", to: pool.capacityIOPS)
                .set("tags", to: StorageTags.join(pool.tags)).set("state", to: pool.state.rawValue).set("strict_qos", to: pool.strictQoS ? 1 : 0)
                .where("id", .equal, id.uuid).run()
            return pool
        }
    }

    /// Moves a pool between states, checking where it comes from.
    public func setStoragePoolState(_ id: StoragePoolID, to state: StoragePool.State, from allowed: Set<StoragePool.State>) async throws -> StoragePool {
        try await database.write { sql in
            guard let row = try await sql.raw("SELECT * FROM storage_pools WHERE id = \(bind: id.uuid)").first() else {
                throw LunarError.unknownID("storage pool", id.uuid)
            }
            var pool = try Self.storagePool(from: row)
            guard allowed.contains(pool.state) || pool.state == state else {
                throw LunarError.refused("pool \(pool.name) is \(pool.state.rawValue); that is not possible now")
            }
            pool.state = state
            try await sql.raw("UPDATE storage_pools SET state = \(bind: state.rawValue) WHERE id = \(bind: id.uuid)").run()
            return pool
        }
    }

    /// Volumes on a pool that block its deletion, and those `forced` may expunge.
    public func poolOccupants(_ id: StoragePoolID) async throws -> (blocking: [Volume], destroyed: [Volume]) {
        try await database.read { sql in
            let volumes = try await sql.raw("SELECT * FROM volumes WHERE pool_id = \(bind: id.uuid) AND state <> 'Expunged'").all().map(Self.volume(from:))
            return (volumes.filter { $0.state != .destroy }, volumes.filter { $0.state == .destroy })
        }
    }

    public func deleteStoragePool(_ id: StoragePoolID) async throws {
        try await database.write { sql in
            let live = try await count(sql, "SELECT COUNT(*) AS n FROM volumes WHERE pool_id = \(bind: id.uuid) AND state <> 'Expunged'")
            guard live == 0 else { throw LunarError.refused("the pool still holds \(live) volume(s)") }
            // Expunged rows keep their history but no longer point at the pool.
            try await sql.raw("UPDATE volumes SET pool_id = NULL WHERE pool_id = \(bind: id.uuid)").run()
            try await sql.raw("DELETE FROM storage_pools WHERE id = \(bind: id.uuid)").run()
        }
    }

    /// Pools that could take a volume in `zoneID` (every state: the allocator says why it skips one).
    func placementCandidates(_ sql: any SQLDatabase, zoneID: ZoneID) async throws -> [StoragePool] {
        try await sql.raw("SELECT * FROM storage_pools WHERE zone_id = \(bind: zoneID.uuid)").all().map(Self.storagePool(from:))
    }

    /// Pools whose `allocated_*` columns disagree with the volumes they sum (always empty unless
    /// there is a bug; tests check it after every step).
    public func poolAccountingMismatches() async throws -> [String] {
        try await database.read { sql in
            let rows = try await sql.raw(
                """
                SELECT p.name AS name, p.allocated_bytes AS ab, p.allocated_iops AS ai,
                    COALESCE(SUM(v.size_bytes + (v.size_bytes * COALESCE(v.hsr_percent, 0) + 99) / 100), 0) AS rb,
                    COALESCE(SUM(COALESCE(v.min_iops, 0)), 0) AS ri
                FROM storage_pools p LEFT JOIN volumes v ON v.pool_id = p.id AND v.state IN ('Creating', 'Ready', 'Resizing', 'Destroy')
                GROUP BY p.id, p.name, p.allocated_bytes, p.allocated_iops
                """
            ).all()
            return try rows.compactMap { row in
                let (allocatedBytes, allocatedIOPS) = (try row.decode(column: "ab", as: Int64.self), try row.decode(column: "ai", as: Int64.self))
                let (bytes, iops) = (try row.decode(column: "rb", as: Int64.self), try row.decode(column: "ri", as: Int64.self))
                guard allocatedBytes != bytes || allocatedIOPS != iops else { return nil }
                return "pool \(try row.decode(column: "name", as: String.self)): recorded \(allocatedBytes) B / \(allocatedIOPS) IOPS, volumes sum to \(bytes) B / \(iops) IOPS"
            }
        }
    }

    static func storagePool(from row: any SQLRow) throws -> StoragePool {
        var pool = StoragePool(
            id: StoragePoolID(trusted: try row.decode(column: "id", as: String.self)),
            name: try row.decode(column: "name", as: String.self),
            zoneID: ZoneID(trusted: try row.decode(column: "zone_id", as: String.self)),
            podID: try row.decode(column: "pod_id", as: String?.self).map(PodID.init(trusted:)),
            clusterID: try row.decode(column: "cluster_id", as: String?.self).map(ClusterID.init(trusted:)),
            scope: try decodeEnum(row, "scope", as: StoragePool.Scope.self),
            url: try row.decode(column: "url", as: String.self),
            provider: try row.decode(column: "provider", as: String.self),
            isManaged: try bool(from: row, "managed"),
            capacityBytes: try row.decode(column: "capacity_bytes", as: Int64.self),
            capacityIOPS: try row.decode(column: "capacity_iops", as: Int64?.self),
            allocatedBytes: try row.decode(column: "allocated_bytes", as: Int64.self),
            allocatedIOPS: try row.decode(column: "allocated_iops", as: Int64.self),
            tags: try tags(from: row),
            hypervisor: try row.decode(column: "hypervisor", as: String?.self).flatMap(HypervisorType.init(rawValue:)),
            state: try decodeEnum(row, "state", as: StoragePool.State.self),
            createdEpochSeconds: try row.decode(column: "created", as: Int64.self)
        )
        pool.guaranteesMinimum = try bool(from: row, "guarantees_minimum")
        pool.strictQoS = try bool(from: row, "strict_qos")
        return pool
    }
}
