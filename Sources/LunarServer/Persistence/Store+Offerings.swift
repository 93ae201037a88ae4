import LunarModel
import SQLKit

extension Store {
    // MARK: Disk offerings

    public func createDiskOffering(_ offering: DiskOffering) async throws {
        try offering.validate()
        try await database.write { sql in
            try await insert(sql, into: "disk_offerings", [
                ("id", offering.id.uuid), ("name", offering.name), ("display_text", offering.displayText),
                ("disk_size_gb", offering.diskSizeGB), ("customized", offering.isCustomized ? 1 : 0),
                ("min_iops", offering.minIOPS), ("max_iops", offering.maxIOPS), ("customized_iops", offering.isCustomizedIOPS ? 1 : 0),
                ("tags", StorageTags.join(offering.tags)), ("hsr_percent", offering.hypervisorSnapshotReservePercent),
                ("provisioning_type", offering.provisioningType.rawValue), ("storage_type", offering.storageType.rawValue),
                ("created", offering.createdEpochSeconds),
            ] + Self.rateColumns(offering.rateLimits))
        }
    }

    /// An offering by id, including a deleted one (volumes keep naming theirs).
    public func diskOffering(_ id: DiskOfferingID, includingDeleted: Bool = false) async throws -> DiskOffering? {
        try await database.read { sql in
            let row = try await sql.raw("SELECT * FROM disk_offerings WHERE id = \(bind: id.uuid)").first()
            guard let row else { return nil }
            if !includingDeleted, try row.decode(column: "removed", as: Int64?.self) != nil { return nil }
            return try Self.diskOffering(from: row)
        }
    }

    public func diskOfferings(id: DiskOfferingID?, name: String?, keyword: String?, window: ListWindow) async throws -> Page<DiskOffering> {
        try await database.read { sql in
            try await page(sql, table: "disk_offerings", window: window) { query in
                var query = query.where(SQLColumn("removed"), .is, SQLLiteral.null).filter("id", equals: id?.uuid).filter("name", equals: name)
                if let keyword { query = query.where(SQLColumn("name"), .like, SQLBind(Self.like(keyword))) }
                return query
            } map: { try Self.diskOffering(from: $0) }
        }
    }

    /// Changes what may change after creation: names and tags (sizes and IOPS are part of what
    /// existing volumes were promised).
    public func updateDiskOffering(_ id: DiskOfferingID, name: String?, displayText: String?, tags: [String]?) async throws -> DiskOffering {
        try await database.write { sql in
            guard let row = try await sql.raw("SELECT * FROM disk_offerings WHERE id = \(bind: id.uuid) AND removed IS NULL").first() else {
                throw LunarError.unknownID("disk offering", id.uuid)
            }
            var offering = try Self.diskOffering(from: row)
            if let name { offering.name = name }
            if let displayText { offering.displayText = displayText }
            if let tags { offering.tags = tags }
            try offering.validate()
            try await sql.update("disk_offerings").set("name", to: offering.name).set("display_text", to: offering.displayText)
                .set("tags", to: StorageTags.join(offering.tags)).where("id", .equal, id.uuid).run()
            return offering
        }
    }

    /// Marks an offering deleted: it is no longer listed or usable, and volumes made from it keep it.
    public func deleteDiskOffering(_ id: DiskOfferingID) async throws {
        try await database.write { sql in
            guard try await sql.raw("SELECT 1 FROM disk_offerings WHERE id = \(bind: id.uuid) AND removed IS NULL").first() != nil else {
                throw LunarError.unknownID("disk offering", id.uuid)
            }
            try await sql.raw("UPDATE disk_offerings SET removed = \(bind: now) WHERE id = \(bind: id.uuid)").run()
        }
    }

    static func diskOffering(from row: any SQLRow) throws -> DiskOffering {
        DiskOffering(
            id: DiskOfferingID(trusted: try row.decode(column: "id", as: String.self)),
            name: try row.decode(column: "name", as: String.self),
            displayText: try row.decode(column: "display_text", as: String.self),
            diskSizeGB: try row.decode(column: "disk_size_gb", as: Int64?.self),
            isCustomized: try bool(from: row, "customized"),
            minIOPS: try row.decode(column: "min_iops", as: Int64?.self),
            maxIOPS: try row.decode(column: "max_iops", as: Int64?.self),
            isCustomizedIOPS: try bool(from: row, "customized_iops"),
            tags: try tags(from: row),
            hypervisorSnapshotReservePercent: try row.decode(column: "hsr_percent", as: Int?.self),
            provisioningType: try decodeEnum(row, "provisioning_type", as: DiskOffering.ProvisioningType.self),
            storageType: try decodeEnum(row, "storage_type", as: DiskOffering.StorageType.self),
            rateLimits: try rateLimits(from: row),
            createdEpochSeconds: try row.decode(column: "created", as: Int64.self)
        )
    }

    // MARK: Service offerings

    public func createServiceOffering(_ offering: ServiceOffering) async throws {
        try offering.validate()
        try await database.write { sql in
            try await insert(sql, into: "service_offerings", [
                ("id", offering.id.uuid), ("name", offering.name), ("display_text", offering.displayText),
                ("cpu_number", offering.cpuNumber), ("cpu_speed_mhz", offering.cpuSpeedMHz), ("memory_mb", offering.memoryMB),
                ("min_iops", offering.minIOPS), ("max_iops", offering.maxIOPS), ("customized_iops", offering.isCustomizedIOPS ? 1 : 0),
                ("tags", StorageTags.join(offering.tags)), ("host_tags", StorageTags.join(offering.hostTags)),
                ("root_disk_size_gb", offering.rootDiskSizeGB), ("hsr_percent", offering.hypervisorSnapshotReservePercent),
                ("offer_ha", offering.offerHA ? 1 : 0),
                ("provisioning_type", offering.provisioningType.rawValue), ("storage_type", offering.storageType.rawValue),
                ("created", offering.createdEpochSeconds),
            ] + Self.rateColumns(offering.rateLimits))
        }
    }

    public func serviceOffering(_ id: ServiceOfferingID) async throws -> ServiceOffering? {
        try await database.read { sql in
            try await sql.raw("SELECT * FROM service_offerings WHERE id = \(bind: id.uuid) AND removed IS NULL").first().map(Self.serviceOffering(from:))
        }
    }

    public func serviceOfferings(id: ServiceOfferingID?, name: String?, keyword: String?, window: ListWindow) async throws -> Page<ServiceOffering> {
        try await database.read { sql in
            try await page(sql, table: "service_offerings", window: window) { query in
                var query = query.where(SQLColumn("removed"), .is, SQLLiteral.null).filter("id", equals: id?.uuid).filter("name", equals: name)
                if let keyword { query = query.where(SQLColumn("name"), .like, SQLBind(Self.like(keyword))) }
                return query
            } map: { try Self.serviceOffering(from: $0) }
        }
    }

    public func deleteServiceOffering(_ id: ServiceOfferingID) async throws {
        try await database.write { sql in
            guard try await sql.raw("SELECT 1 FROM service_offerings WHERE id = \(bind: id.uuid) AND removed IS NULL").first() != nil else {
                throw LunarError.unknownID("service offering", id.uuid)
            }
            try await sql.raw("UPDATE service_offerings SET removed = \(bind: now) WHERE id = \(bind: id.uuid)").run()
        }
    }

    static func serviceOffering(from row: any SQLRow) throws -> ServiceOffering {
        var offering = ServiceOffering(
            id: ServiceOfferingID(trusted: try row.decode(column: "id", as: String.self)),
            name: try row.decode(column: "name", as: String.self),
            displayText: try row.decode(column: "display_text", as: String.self),
            cpuNumber: try row.decode(column: "cpu_number", as: Int.self),
            cpuSpeedMHz: try row.decode(column: "cpu_speed_mhz", as: Int.self),
            memoryMB: try row.decode(column: "memory_mb", as: Int.self),
            minIOPS: try row.decode(column: "min_iops", as: Int64?.self),
            maxIOPS: try row.decode(column: "max_iops", as: Int64?.self),
            isCustomizedIOPS: try bool(from: row, "customized_iops"),
            tags: try tags(from: row),
            hostTags: try tags(from: row, column: "host_tags"),
            rootDiskSizeGB: try row.decode(column: "root_disk_size_gb", as: Int64?.self),
            hypervisorSnapshotReservePercent: try row.decode(column: "hsr_percent", as: Int?.self),
            provisioningType: try decodeEnum(row, "provisioning_type", as: DiskOffering.ProvisioningType.self),
            storageType: try decodeEnum(row, "storage_type", as: DiskOffering.StorageType.self),
            rateLimits: try rateLimits(from: row),
            createdEpochSeconds: try row.decode(column: "created", as: Int64.self)
        )
        offering.offerHA = try bool(from: row, "offer_ha")
        return offering
    }
}
