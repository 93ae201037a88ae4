import Foundation
import LunarModel
import LunarStorage
import SQLKit

extension Store {
    /// Adds a host (agents register theirs; tests and tools may add one directly).
    public func insertHost(_ host: LunarModel.Host) async throws {
        try await database.write { sql in
            try await insert(sql, into: "hosts", [
                ("id", host.id.uuid), ("name", host.name), ("zone_id", host.zoneID.uuid), ("pod_id", host.podID.uuid),
                ("cluster_id", host.clusterID.uuid), ("hypervisor", host.hypervisor.rawValue), ("ip_address", host.ipAddress),
                ("initiator_iqn", host.initiatorIQN), ("state", host.state.rawValue), ("resource_state", host.resourceState.rawValue),
                ("cpu_cores", Int64(host.cpuCores)), ("cpu_speed_mhz", Int64(host.cpuSpeedMHz)), ("memory_bytes", host.memoryBytes),
                ("last_pinged", host.lastPingedEpochSeconds), ("created", host.createdEpochSeconds),
            ])
        }
    }

    public func host(_ id: HostID) async throws -> LunarModel.Host? {
        try await database.read { sql in
            try await sql.raw("SELECT * FROM hosts WHERE id = \(bind: id.uuid)").first().map(Self.host(from:))
        }
    }

    /// Records (or re-records, after a lost answer) a grant.
    public func recordGrant(_ grant: VolumeGrant) async throws {
        try await database.write { sql in
            try await sql.raw("DELETE FROM volume_grants WHERE volume_id = \(bind: grant.volumeID.uuid) AND host_id = \(bind: grant.hostID.uuid)").run()
            try await insert(sql, into: "volume_grants", [
                ("volume_id", grant.volumeID.uuid), ("host_id", grant.hostID.uuid), ("reason", grant.reason.rawValue), ("job_id", grant.jobID),
                ("created", grant.createdEpochSeconds),
            ])
        }
    }

    public func removeGrant(volume: VolumeID, host: HostID) async throws {
        try await database.write { sql in
            try await sql.raw("DELETE FROM volume_grants WHERE volume_id = \(bind: volume.uuid) AND host_id = \(bind: host.uuid)").run()
        }
    }

    public func grants(volume: VolumeID? = nil, host: HostID? = nil) async throws -> [VolumeGrant] {
        try await database.read { sql in
            var query = sql.select().column("*").from("volume_grants")
            if let volume { query = query.where("volume_id", .equal, volume.uuid) }
            if let host { query = query.where("host_id", .equal, host.uuid) }
            return try await query.orderBy("created").all().map { row in
                VolumeGrant(
                    volumeID: VolumeID(trusted: try row.decode(column: "volume_id", as: String.self)),
                    hostID: HostID(trusted: try row.decode(column: "host_id", as: String.self)),
                    reason: try Self.decodeEnum(row, "reason", as: VolumeGrant.Reason.self), jobID: try row.decode(column: "job_id", as: String?.self),
                    createdEpochSeconds: try row.decode(column: "created", as: Int64.self)
                )
            }
        }
    }

    /// What a pool's grants justify: each granted volume's path with the host's initiator name.
    public func grantedAccess(pool: StoragePoolID) async throws -> Set<StorageAccess> {
        try await database.read { sql in
            let rows = try await sql.raw(
                """
                SELECT v.path AS path, h.initiator_iqn AS iqn FROM volume_grants g
                JOIN volumes v ON v.id = g.volume_id JOIN hosts h ON h.id = g.host_id
                WHERE v.pool_id = \(bind: pool.uuid) AND v.path IS NOT NULL AND h.initiator_iqn IS NOT NULL
                """
            ).all()
            return Set(try rows.map { StorageAccess(path: try $0.decode(column: "path", as: String.self), initiator: try $0.decode(column: "iqn", as: String.self)) })
        }
    }
}
