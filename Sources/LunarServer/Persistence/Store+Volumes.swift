import LunarModel
import SQLKit

/// Volumes, and the capacity accounting that goes with placing, resizing and deleting them.
/// Every change to a placed volume's size or minimum IOPS updates its pool's `allocated_*` in the
/// same transaction, and every state change goes through ``VolumeStateMachine``.
extension Store {
    public func insertVolume(_ volume: Volume) async throws {
        precondition(volume.state == .allocated && volume.poolID == nil)
        try await database.write { sql in try await insertVolumeRow(sql, volume) }
    }

    func insertVolumeRow(_ sql: any SQLDatabase, _ volume: Volume) async throws {
        precondition(volume.state == .allocated && volume.poolID == nil)
        try await insert(sql, into: "volumes", [
                ("id", volume.id.uuid), ("name", volume.name), ("account_id", volume.accountID.uuid), ("zone_id", volume.zoneID.uuid),
                ("disk_offering_id", volume.diskOfferingID?.uuid), ("type", volume.kind.rawValue), ("size_bytes", volume.sizeBytes),
                ("min_iops", volume.minIOPS), ("max_iops", volume.maxIOPS), ("hsr_percent", volume.hypervisorSnapshotReservePercent),
                ("state", volume.state.rawValue), ("provisioning_type", volume.provisioningType.rawValue),
                ("vm_id", volume.virtualMachineID?.uuid), ("device_id", volume.deviceID), ("created", volume.createdEpochSeconds),
                ("attached", volume.virtualMachineID == nil ? nil : volume.attachedEpochSeconds ?? volume.createdEpochSeconds),
            ] + Self.rateColumns(volume.rateLimits))
    }

    public func volume(_ id: VolumeID) async throws -> Volume? {
        try await database.read { sql in try await loadVolume(sql, id) }
    }

    func loadVolume(_ sql: any SQLDatabase, _ id: VolumeID) async throws -> Volume? {
        try await sql.raw("SELECT * FROM volumes WHERE id = \(bind: id.uuid) AND state <> 'Expunged'").first().map(Self.volume(from:))
    }

    public struct VolumeFilter: Sendable {
        public var id: VolumeID?
        public var accountID: AccountID?
        public var name: String?
        public var kind: Volume.Kind?
        public var virtualMachineID: VirtualMachineID?
        public var zoneID: ZoneID?
        public var poolID: StoragePoolID?
        public var state: VolumeState?
        public var keyword: String?

        public init() {}
    }

    /// Volumes that are not expunged, filtered.
    public func volumes(_ filter: VolumeFilter, window: ListWindow) async throws -> Page<Volume> {
        try await database.read { sql in
            try await page(sql, table: "volumes", window: window) { query in
                var query = query.where(SQLColumn("state"), .notEqual, SQLBind(VolumeState.expunged.rawValue))
                    .filter("id", equals: filter.id?.uuid).filter("account_id", equals: filter.accountID?.uuid)
                    .filter("name", equals: filter.name).filter("type", equals: filter.kind?.rawValue)
                    .filter("vm_id", equals: filter.virtualMachineID?.uuid).filter("zone_id", equals: filter.zoneID?.uuid)
                    .filter("pool_id", equals: filter.poolID?.uuid).filter("state", equals: filter.state?.rawValue)
                if let keyword = filter.keyword { query = query.where(SQLColumn("name"), .like, SQLBind(Self.like(keyword))) }
                return query
            } map: { try Self.volume(from: $0) }
        }
    }

    /// How many live volumes an account owns.
    public func numberOfVolumes(of accountID: AccountID) async throws -> Int {
        try await database.read { sql in
            try await count(sql, "SELECT COUNT(*) AS n FROM volumes WHERE account_id = \(bind: accountID.uuid) AND state <> 'Expunged'")
        }
    }

    // MARK: Placement

    /// Places an `Allocated` volume: picks a pool with the allocator (or checks the one given),
    /// reserves its bytes and minimum IOPS there, and moves it to `Creating`, all in one
    /// transaction, so concurrent placements never overbook a pool.
    /// - Throws: 533 naming each pool's reason when none fits.
    public func placeVolume(
        _ id: VolumeID, clusterID: ClusterID?, onPool chosenPoolID: StoragePoolID?, requiredTags: [String]
    ) async throws -> (Volume, StoragePool) {
        try await database.write { sql in
            guard var volume = try await loadVolume(sql, id) else { throw LunarError.unknownID("volume", id.uuid) }
            let next = try VolumeStateMachine.next(volume.state, on: .createRequested)
            let request = PlacementRequest(
                zoneID: volume.zoneID, clusterID: clusterID, requiredTags: requiredTags, bytes: volume.reservedBytes, minIOPS: volume.reservedIOPS,
                overprovisioningPermille: try await overprovisioningPermille(sql)
            )
            var pool: StoragePool
            if let chosenPoolID {
                guard let row = try await sql.raw("SELECT * FROM storage_pools WHERE id = \(bind: chosenPoolID.uuid)").first() else {
                    throw LunarError.unknownID("storage pool", chosenPoolID.uuid, parameter: "storageid")
                }
                pool = try Self.storagePool(from: row)
                if let reason = PoolAllocator.rejection(of: pool, for: request) {
                    throw PlacementRefusal(reasons: ["pool \(pool.name): \(reason)"]).error
                }
            } else if let best = try await bestPool(sql, for: request), PoolAllocator.rejection(of: best, for: request) == nil {
                pool = best
            } else {
                // Nothing fits (or the fast path disagreed): the allocator over every pool decides and says why.
                switch PoolAllocator.choose(request, among: try await placementCandidates(sql, zoneID: volume.zoneID)) {
                case .success(let chosen): pool = chosen
                case .failure(let refusal): throw refusal.error
                }
            }
            try await adjustPool(sql, pool.id, bytes: volume.reservedBytes, iops: volume.reservedIOPS)
            pool.allocatedBytes += volume.reservedBytes
            pool.allocatedIOPS += volume.reservedIOPS
            volume.state = next
            volume.poolID = pool.id
            try await sql.raw(
                "UPDATE volumes SET state = \(bind: next.rawValue), pool_id = \(bind: pool.id.uuid) WHERE id = \(bind: id.uuid)"
            ).run()
            return (volume, pool)
        }
    }

    /// `Creating` → `Ready` with the provider's path.
    public func finishCreating(_ id: VolumeID, path: String) async throws -> Volume {
        try await transition(id, on: .createSucceeded) { _, volume in
            volume.path = path
            return [("path", path)]
        }
    }

    /// `Creating` → `Allocated`, giving the reservation back.
    public func abandonCreating(_ id: VolumeID) async throws -> Volume {
        try await transition(id, on: .createFailed) { sql, volume in
            if let poolID = volume.poolID { try await adjustPool(sql, poolID, bytes: -volume.reservedBytes, iops: -volume.reservedIOPS) }
            volume.poolID = nil
            volume.path = nil
            return [("pool_id", String?.none), ("path", String?.none)]
        }
    }

    // MARK: Resizing

    /// What a resize asks for.
    public struct ResizeRequest: Sendable {
        public var sizeBytes: Int64
        public var minIOPS: Int64?
        public var maxIOPS: Int64?
        public var diskOfferingID: DiskOfferingID?
        /// The tags the (possibly new) offering requires of the pool.
        public var requiredTags: [String]

        public init(sizeBytes: Int64, minIOPS: Int64?, maxIOPS: Int64?, diskOfferingID: DiskOfferingID?, requiredTags: [String]) {
            self.sizeBytes = sizeBytes
            self.minIOPS = minIOPS
            self.maxIOPS = maxIOPS
            self.diskOfferingID = diskOfferingID
            self.requiredTags = requiredTags
        }
    }

    /// Applies a resize to a volume that has no storage yet (an `Allocated` row).
    public func resizeUnplaced(_ id: VolumeID, _ request: ResizeRequest) async throws -> Volume {
        try await database.write { sql in
            guard var volume = try await loadVolume(sql, id) else { throw LunarError.unknownID("volume", id.uuid) }
            guard volume.state == .allocated else { throw LunarError.refused("the volume is \(volume.state.rawValue); it cannot be resized now") }
            volume.sizeBytes = request.sizeBytes
            volume.minIOPS = request.minIOPS
            volume.maxIOPS = request.maxIOPS
            volume.diskOfferingID = request.diskOfferingID ?? volume.diskOfferingID
            try await sql.raw(
                """
                UPDATE volumes SET size_bytes = \(bind: volume.sizeBytes), min_iops = \(bind: volume.minIOPS), max_iops = \(bind: volume.maxIOPS),
                    disk_offering_id = \(bind: volume.diskOfferingID?.uuid) WHERE id = \(bind: id.uuid)
                """
            ).run()
            return volume
        }
    }

    /// `Ready` → `Resizing`: checks that the pool can take the new size and IOPS, reserves the
    /// difference, and records the new figures (keeping the old ones to roll back to).
    /// - Returns: the volume before and after, and its pool.
    public func beginResizing(_ id: VolumeID, _ request: ResizeRequest) async throws -> (before: Volume, after: Volume, pool: StoragePool) {
        try await database.write { sql in
            guard let before = try await loadVolume(sql, id) else { throw LunarError.unknownID("volume", id.uuid) }
            let next = try VolumeStateMachine.next(before.state, on: .resizeRequested)
            guard let poolID = before.poolID, let poolRow = try await sql.raw("SELECT * FROM storage_pools WHERE id = \(bind: poolID.uuid)").first() else {
                throw LunarError(.internalError, "volume \(id.uuid) is Ready without a pool")
            }
            var after = before
            after.state = next
            after.sizeBytes = request.sizeBytes
            after.minIOPS = request.minIOPS
            after.maxIOPS = request.maxIOPS
            after.diskOfferingID = request.diskOfferingID ?? before.diskOfferingID
            var pool = try Self.storagePool(from: poolRow)
            // Check the pool as if this volume's current reservation were released.
            var without = pool
            without.allocatedBytes -= before.reservedBytes
            without.allocatedIOPS -= before.reservedIOPS
            let check = PlacementRequest(
                zoneID: before.zoneID, clusterID: nil, requiredTags: request.requiredTags, bytes: after.reservedBytes, minIOPS: after.reservedIOPS,
                overprovisioningPermille: try await overprovisioningPermille(sql)
            )
            let growing = after.reservedBytes > before.reservedBytes || after.reservedIOPS > before.reservedIOPS
            if growing || !request.requiredTags.allSatisfy(pool.tags.contains), let reason = PoolAllocator.rejection(of: without, for: check) {
                throw LunarError(.insufficientCapacity, csErrorCode: 4340, "pool \(pool.name): \(reason)")
            }
            let (bytesDelta, iopsDelta) = (after.reservedBytes - before.reservedBytes, after.reservedIOPS - before.reservedIOPS)
            try await adjustPool(sql, poolID, bytes: bytesDelta, iops: iopsDelta)
            pool.allocatedBytes += bytesDelta
            pool.allocatedIOPS += iopsDelta
            try await sql.raw(
                """
                UPDATE volumes SET state = \(bind: next.rawValue),
                    previous_size_bytes = size_bytes, previous_min_iops = min_iops, previous_max_iops = max_iops,
                    previous_disk_offering_id = disk_offering_id,
                    size_bytes = \(bind: after.sizeBytes), min_iops = \(bind: after.minIOPS), max_iops = \(bind: after.maxIOPS),
                    disk_offering_id = \(bind: after.diskOfferingID?.uuid)
                WHERE id = \(bind: id.uuid)
                """
            ).run()
            return (before, after, pool)
        }
    }

    /// `Resizing` → `Ready` with the new figures.
    public func finishResizing(_ id: VolumeID) async throws -> Volume {
        try await database.write { sql in
            guard var volume = try await loadVolume(sql, id) else { throw LunarError.unknownID("volume", id.uuid) }
            volume.state = try VolumeStateMachine.next(volume.state, on: .resizeSucceeded)
            // One statement: the schema ties the rollback columns to the Resizing state.
            try await sql.raw(
                """
                UPDATE volumes SET state = \(bind: volume.state.rawValue), previous_size_bytes = NULL, previous_min_iops = NULL,
                    previous_max_iops = NULL, previous_disk_offering_id = NULL WHERE id = \(bind: id.uuid)
                """
            ).run()
            return volume
        }
    }

    /// `Resizing` → `Ready` with the old figures, giving back the difference reserved.
    public func abandonResizing(_ id: VolumeID) async throws -> Volume {
        try await database.write { sql in
            guard let row = try await sql.raw("SELECT * FROM volumes WHERE id = \(bind: id.uuid)").first() else { throw LunarError.unknownID("volume", id.uuid) }
            var volume = try Self.volume(from: row)
            let next = try VolumeStateMachine.next(volume.state, on: .resizeFailed)
            var before = volume
            before.sizeBytes = try row.decode(column: "previous_size_bytes", as: Int64.self)
            before.minIOPS = try row.decode(column: "previous_min_iops", as: Int64?.self)
            before.maxIOPS = try row.decode(column: "previous_max_iops", as: Int64?.self)
            before.diskOfferingID = try row.decode(column: "previous_disk_offering_id", as: String?.self).map(DiskOfferingID.init(trusted:))
            if let poolID = volume.poolID {
                try await adjustPool(sql, poolID, bytes: before.reservedBytes - volume.reservedBytes, iops: before.reservedIOPS - volume.reservedIOPS)
            }
            try await sql.raw(
                """
                UPDATE volumes SET state = \(bind: next.rawValue), size_bytes = previous_size_bytes, min_iops = previous_min_iops,
                    max_iops = previous_max_iops, disk_offering_id = previous_disk_offering_id, previous_size_bytes = NULL,
                    previous_min_iops = NULL, previous_max_iops = NULL, previous_disk_offering_id = NULL
                WHERE id = \(bind: id.uuid)
                """
            ).run()
            volume = before
            volume.state = next
            return volume
        }
    }

    // MARK: Deletion

    /// Starts deleting: an unplaced volume is expunged at once; a placed one goes to `Destroy`
    /// (still holding its capacity until its storage is gone). Refused while attached or busy.
    public func beginDeleting(_ id: VolumeID) async throws -> Volume {
        try await database.write { sql in
            guard var volume = try await loadVolume(sql, id) else { throw LunarError.unknownID("volume", id.uuid) }
            if let vm = volume.virtualMachineID {
                throw LunarError.refused("Please detach the volume from virtual machine \(vm.uuid) before deleting it")
            }
            let next = try VolumeStateMachine.next(volume.state, on: .destroyRequested)
            if volume.poolID == nil {
                volume.state = try VolumeStateMachine.next(next, on: .expungeSucceeded)
                try await sql.raw("UPDATE volumes SET state = \(bind: volume.state.rawValue), removed = \(bind: now) WHERE id = \(bind: id.uuid)").run()
            } else {
                volume.state = next
                try await sql.raw("UPDATE volumes SET state = \(bind: next.rawValue) WHERE id = \(bind: id.uuid)").run()
            }
            return volume
        }
    }

    /// `Destroy` → `Expunged` once the provider deleted the storage; the pool gets its capacity back.
    public func finishDeleting(_ id: VolumeID) async throws {
        _ = try await transition(id, on: .expungeSucceeded) { sql, volume in
            if let poolID = volume.poolID { try await adjustPool(sql, poolID, bytes: -volume.reservedBytes, iops: -volume.reservedIOPS) }
            return [("removed", now)]
        }
    }

    /// `Destroy` → `Ready` when the provider could not delete the storage and left it intact: the
    /// delete is undone, so the caller's error is all that happened.
    public func abandonDeleting(_ id: VolumeID) async throws -> Volume {
        try await transition(id, on: .destroyAbandoned) { _, _ in [] }
    }

    // MARK: Helpers

    /// Applies a state machine event to a volume in one transaction. `change` may touch other
    /// rows and returns the volume's other column changes, which go into the same UPDATE as the
    /// state (the schema checks state and columns together, statement by statement).
    func transition(
        _ id: VolumeID, on event: VolumeEvent, _ change: (any SQLDatabase, inout Volume) async throws -> [Column]
    ) async throws -> Volume {
        try await database.write { sql in
            guard var volume = try await loadVolume(sql, id) else { throw LunarError.unknownID("volume", id.uuid) }
            let next = try VolumeStateMachine.next(volume.state, on: event)
            let columns = try await change(sql, &volume)
            volume.state = next
            var update = sql.update("volumes").set("state", to: next.rawValue)
            for column in columns { update = update.set(SQLColumn(column.name), to: SQLBind(column.value)) }
            try await update.where("id", .equal, id.uuid).run()
            return volume
        }
    }

    /// The pool the allocator would choose, found by the database: the same rules and order as
    /// ``PoolAllocator`` (state, scope, tags, bytes, IOPS; most free IOPS, then bytes, then name),
    /// so a placement reads one row instead of every pool of the zone.
    func bestPool(_ sql: any SQLDatabase, for request: PlacementRequest) async throws -> StoragePool? {
        var query: SQLQueryString = """
            SELECT * FROM storage_pools WHERE zone_id = \(bind: request.zoneID.uuid) AND state = 'Up'
                AND allocated_bytes <= (capacity_bytes / 1000 * \(bind: request.overprovisioningPermille) + capacity_bytes % 1000 * \(bind: request.overprovisioningPermille) / 1000) - \(bind: request.bytes)
                AND (capacity_iops IS NULL OR allocated_iops <= capacity_iops - \(bind: request.minIOPS))
                AND NOT (\(bind: request.minIOPS) > 0 AND strict_qos = 1 AND guarantees_minimum = 0)
            """
        if let clusterID = request.clusterID {
            query.appendLiteral(" AND (scope = 'ZONE' OR cluster_id = ")
            query.appendInterpolation(bind: clusterID.uuid)
            query.appendLiteral(")")
        }
        for tag in request.requiredTags {
            // Tags hold no '%' or backslash (StorageTags refuses them), but '_' is a LIKE wildcard.
            query.appendLiteral(" AND (',' || tags || ',') LIKE ")
            query.appendInterpolation(bind: "%," + tag.replacingOccurrences(of: "_", with: "\\_") + ",%")
            query.appendLiteral(" ESCAPE '\\'")
        }
        // Same order as PoolAllocator.isBetter: storage that reserves a minimum first, for a volume with one.
        query.appendLiteral(" ORDER BY CASE WHEN ")
        query.appendInterpolation(bind: request.minIOPS)
        query.appendLiteral(
            """
             > 0 THEN guarantees_minimum ELSE 0 END DESC,
                CASE WHEN capacity_iops IS NULL THEN 9223372036854775807 ELSE capacity_iops - allocated_iops END DESC,
                (capacity_bytes / 1000 * 
            """
        )
        query.appendInterpolation(bind: request.overprovisioningPermille)
        query.appendLiteral(" + capacity_bytes % 1000 * ")
        query.appendInterpolation(bind: request.overprovisioningPermille)
        query.appendLiteral(" / 1000) - allocated_bytes DESC, name ASC LIMIT 1")
        return try await sql.raw(query).first().map(Self.storagePool(from:))
    }

    /// `storage.overprovisioning.factor` in thousandths, read in the placing transaction.
    func overprovisioningPermille(_ sql: any SQLDatabase) async throws -> Int64 {
        let setting = GlobalSetting.overprovisioningFactor
        let value = try await sql.raw("SELECT value FROM settings WHERE name = \(bind: setting.name)").first()?.decode(column: "value", as: String.self)
        return GlobalSetting.permille(value ?? setting.defaultValue)
    }

    func adjustPool(_ sql: any SQLDatabase, _ poolID: StoragePoolID, bytes: Int64, iops: Int64) async throws {
        try await sql.raw(
            """
            UPDATE storage_pools SET allocated_bytes = allocated_bytes + \(bind: bytes), allocated_iops = allocated_iops + \(bind: iops)
            WHERE id = \(bind: poolID.uuid)
            """
        ).run()
    }

    static func volume(from row: any SQLRow) throws -> Volume {
        Volume(
            id: VolumeID(trusted: try row.decode(column: "id", as: String.self)),
            name: try row.decode(column: "name", as: String.self),
            accountID: AccountID(trusted: try row.decode(column: "account_id", as: String.self)),
            zoneID: ZoneID(trusted: try row.decode(column: "zone_id", as: String.self)),
            diskOfferingID: try row.decode(column: "disk_offering_id", as: String?.self).map(DiskOfferingID.init(trusted:)),
            kind: try decodeEnum(row, "type", as: Volume.Kind.self),
            sizeBytes: try row.decode(column: "size_bytes", as: Int64.self),
            minIOPS: try row.decode(column: "min_iops", as: Int64?.self),
            maxIOPS: try row.decode(column: "max_iops", as: Int64?.self),
            hypervisorSnapshotReservePercent: try row.decode(column: "hsr_percent", as: Int?.self),
            state: try decodeEnum(row, "state", as: VolumeState.self),
            poolID: try row.decode(column: "pool_id", as: String?.self).map(StoragePoolID.init(trusted:)),
            path: try row.decode(column: "path", as: String?.self),
            provisioningType: try decodeEnum(row, "provisioning_type", as: DiskOffering.ProvisioningType.self),
            rateLimits: try rateLimits(from: row),
            virtualMachineID: try row.decode(column: "vm_id", as: String?.self).map(VirtualMachineID.init(trusted:)),
            deviceID: try row.decode(column: "device_id", as: Int?.self),
            createdEpochSeconds: try row.decode(column: "created", as: Int64.self),
            attachedEpochSeconds: try row.decode(column: "attached", as: Int64?.self)
        )
    }
}

extension Store {
    /// Removes a volume row that never held storage (an `Allocated` volume whose immediate
    /// placement was refused), so a refused request leaves nothing behind.
    public func discardUnplacedVolume(_ id: VolumeID) async throws {
        try await database.write { sql in
            try await sql.raw("DELETE FROM volumes WHERE id = \(bind: id.uuid) AND state = 'Allocated' AND pool_id IS NULL").run()
        }
    }
}
