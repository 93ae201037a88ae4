import LunarModel
import SQLKit

/// A template's volume on one pool: what root disks there are copied from.
struct TemplateCopy: Sendable, Hashable {
    enum State: String, Sendable { case creating, ready }
    var templateID: TemplateID
    var poolID: StoragePoolID
    /// The id its storage is named by (a volume id nothing else uses).
    var volumeID: VolumeID
    var path: String?
    var state: State
}

extension Store {
    public func insertTemplate(_ template: Template) async throws {
        try await database.write { sql in
            try await insert(sql, into: "templates", [
                ("id", template.id.uuid), ("name", template.name), ("display_text", template.displayText), ("format", template.format.rawValue),
                ("size", template.sizeBytes), ("physical_size", template.physicalSizeBytes), ("os_type_id", template.osTypeID),
                ("os_type_name", template.osTypeName), ("featured", template.isFeatured ? 1 : 0), ("public", template.isPublic ? 1 : 0),
                ("hypervisor", template.hypervisor.rawValue), ("url", template.url ?? ""), ("checksum", template.checksum),
                ("zone_id", template.zoneID?.uuid), ("account_id", template.accountID?.uuid), ("state", template.state.rawValue),
                ("status", template.status), ("created", template.createdEpochSeconds),
            ])
        }
    }

    /// A template by id: the built-in one or a registered one.
    public func template(_ id: TemplateID) async throws -> Template? {
        if id == Template.builtIn.id { return Template.builtIn }
        return try await database.read { sql in
            try await sql.raw("SELECT * FROM templates WHERE id = \(bind: id.uuid)").first().map(Self.template(from:))
        }
    }

    /// The built-in template and every registered one, oldest first.
    public func allTemplates() async throws -> [Template] {
        let stored = try await database.read { sql in
            try await sql.raw("SELECT * FROM templates ORDER BY created, id").all().map(Self.template(from:))
        }
        return [Template.builtIn] + stored
    }

    /// Records where a template's download ended (or how far it got).
    func updateTemplate(_ id: TemplateID, state: Template.State, status: String, sizeBytes: Int64? = nil, physicalSizeBytes: Int64? = nil) async throws {
        try await database.write { sql in
            var update = sql.update("templates").set("state", to: state.rawValue).set("status", to: status)
            if let sizeBytes { update = update.set("size", to: sizeBytes) }
            if let physicalSizeBytes { update = update.set("physical_size", to: physicalSizeBytes) }
            try await update.where("id", .equal, id.uuid).run()
        }
    }

    func deleteTemplateRow(_ id: TemplateID) async throws {
        try await database.write { sql in
            try await sql.raw("DELETE FROM template_copies WHERE template_id = \(bind: id.uuid)").run()
            try await sql.raw("DELETE FROM templates WHERE id = \(bind: id.uuid)").run()
        }
    }

    func templateCopies(template: TemplateID? = nil, pool: StoragePoolID? = nil) async throws -> [TemplateCopy] {
        try await database.read { sql in
            var query = sql.select().column("*").from("template_copies")
            if let template { query = query.where("template_id", .equal, template.uuid) }
            if let pool { query = query.where("pool_id", .equal, pool.uuid) }
            return try await query.orderBy("created").all().map { row in
                TemplateCopy(
                    templateID: TemplateID(trusted: try row.decode(column: "template_id", as: String.self)),
                    poolID: StoragePoolID(trusted: try row.decode(column: "pool_id", as: String.self)),
                    volumeID: VolumeID(trusted: try row.decode(column: "volume_id", as: String.self)),
                    path: try row.decode(column: "path", as: String?.self), state: try Self.decodeEnum(row, "state", as: TemplateCopy.State.self)
                )
            }
        }
    }

    /// The template's copy on `pool`, recorded as being made when there is none yet.
    func beginTemplateCopy(template: TemplateID, pool: StoragePoolID) async throws -> TemplateCopy {
        try await database.write { sql in
            if let row = try await sql.raw("SELECT volume_id, path, state FROM template_copies WHERE template_id = \(bind: template.uuid) AND pool_id = \(bind: pool.uuid)").first() {
                return TemplateCopy(
                    templateID: template, poolID: pool, volumeID: VolumeID(trusted: try row.decode(column: "volume_id", as: String.self)),
                    path: try row.decode(column: "path", as: String?.self), state: try Self.decodeEnum(row, "state", as: TemplateCopy.State.self)
                )
            }
            let copy = TemplateCopy(templateID: template, poolID: pool, volumeID: .random(), path: nil, state: .creating)
            try await insert(sql, into: "template_copies", [
                ("template_id", template.uuid), ("pool_id", pool.uuid), ("volume_id", copy.volumeID.uuid), ("path", String?.none),
                ("state", copy.state.rawValue), ("created", time.nowEpochSeconds()),
            ])
            return copy
        }
    }

    func finishTemplateCopy(_ copy: TemplateCopy, path: String) async throws {
        try await database.write { sql in
            try await sql.update("template_copies").set("path", to: path).set("state", to: TemplateCopy.State.ready.rawValue)
                .where("template_id", .equal, copy.templateID.uuid).where("pool_id", .equal, copy.poolID.uuid).run()
        }
    }

    func removeTemplateCopy(_ copy: TemplateCopy) async throws {
        try await database.write { sql in
            try await sql.raw("DELETE FROM template_copies WHERE template_id = \(bind: copy.templateID.uuid) AND pool_id = \(bind: copy.poolID.uuid)").run()
        }
    }

    static func template(from row: any SQLRow) throws -> Template {
        Template(
            id: TemplateID(trusted: try row.decode(column: "id", as: String.self)), name: try row.decode(column: "name", as: String.self),
            displayText: try row.decode(column: "display_text", as: String.self), format: try decodeEnum(row, "format", as: Template.Format.self),
            sizeBytes: try row.decode(column: "size", as: Int64.self), physicalSizeBytes: try row.decode(column: "physical_size", as: Int64?.self),
            osTypeID: try row.decode(column: "os_type_id", as: String?.self), osTypeName: try row.decode(column: "os_type_name", as: String.self),
            isFeatured: try bool(from: row, "featured"), isPublic: try bool(from: row, "public"), hypervisor: try decodeEnum(row, "hypervisor", as: HypervisorType.self),
            url: try row.decode(column: "url", as: String.self), checksum: try row.decode(column: "checksum", as: String?.self),
            zoneID: try row.decode(column: "zone_id", as: String?.self).map { ZoneID(trusted: $0) },
            accountID: try row.decode(column: "account_id", as: String?.self).map { AccountID(trusted: $0) },
            state: try decodeEnum(row, "state", as: Template.State.self), status: try row.decode(column: "status", as: String.self),
            createdEpochSeconds: try row.decode(column: "created", as: Int64.self)
        )
    }
}
