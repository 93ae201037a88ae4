import LunarModel
import LunarStorage

/// Templates on primary storage, as CloudStack does it for managed storage: the first root disk
/// from a template on a pool makes the pool's template volume (the image written into it once),
/// and every root disk there is a copy the storage itself makes of that volume.
struct TemplateService: Sendable {
    let server: ServerContext

    var store: Store { server.store }

    /// The template volume's descriptor (named by the copy's own volume id).
    static func descriptor(_ copy: TemplateCopy, _ template: Template) -> VolumeDescriptor {
        VolumeDescriptor(
            id: copy.volumeID, name: "template-\(template.name)", sizeBytes: (template.sizeBytes + 511) / 512 * 512, minIOPS: nil, maxIOPS: nil, path: copy.path
        )
    }

    static func lockKey(_ template: TemplateID, _ pool: StoragePoolID) -> String { template.uuid + "/" + pool.uuid }

    /// The template's volume on `pool`, made (and the image written into it) the first time.
    /// One at a time per template and pool; a copy a failure left half made is made again.
    func copy(of template: Template, on pool: StoragePool, details: [String: String], context: JobContext?) async throws -> VolumeDescriptor {
        guard template.isReady else { throw LunarError.refused("template \(template.name) is not ready: \(template.status)") }
        let provider = try server.providers.require(pool.provider)
        let descriptor = pool.descriptor(details: details)
        return try await server.templateCopyLocks.withLock(Self.lockKey(template.id, pool.id)) {
            let copy = try await store.beginTemplateCopy(template: template.id, pool: pool.id)
            if copy.state == .ready { return Self.descriptor(copy, template) }
            let make = {
                let volume = Self.descriptor(copy, template)
                let path = try await provider.createVolume(volume, in: descriptor)
                var written = volume
                written.path = path
                try await provider.write(written, in: descriptor, fromFile: server.templates.imagePath(template.id))
                return path
            }
            let path: String
            if let context {
                path = try await context.step("copy template \(template.name) to \(pool.name)", detail: copy.volumeID.uuid, make)
            } else {
                path = try await make()
            }
            try await store.finishTemplateCopy(copy, path: path)
            var ready = copy
            ready.path = path
            ready.state = .ready
            return Self.descriptor(ready, template)
        }
    }

    /// Deletes the template's volume on every pool, then its image, then its record. A pool
    /// that cannot delete its copy fails the call with the template still listed (retry it).
    func delete(_ template: Template) async throws {
        for copy in try await store.templateCopies(template: template.id) {
            try await server.templateCopyLocks.withLock(Self.lockKey(template.id, copy.poolID)) {
                if let (pool, details) = try await store.poolDescriptor(copy.poolID) {
                    let provider = try server.providers.require(pool.provider)
                    try await provider.deleteVolume(Self.descriptor(copy, template), in: pool.descriptor(details: details))
                }
                try await store.removeTemplateCopy(copy)
            }
        }
        do {
            try server.templates.removeFiles(template.id)
        } catch {
            throw LunarError(.internalError, "cannot remove template \(template.name)'s image from secondary storage: \(error)")
        }
        try await store.deleteTemplateRow(template.id)
    }

    /// Deletes every template volume on `pool` (the pool is being deleted).
    func deleteCopies(on pool: StoragePool, details: [String: String]) async throws {
        let provider = try server.providers.require(pool.provider)
        for copy in try await store.templateCopies(pool: pool.id) {
            guard let template = try await store.template(copy.templateID) else { continue }
            try await server.templateCopyLocks.withLock(Self.lockKey(copy.templateID, pool.id)) {
                try await provider.deleteVolume(Self.descriptor(copy, template), in: pool.descriptor(details: details))
                try await store.removeTemplateCopy(copy)
            }
        }
    }
}
