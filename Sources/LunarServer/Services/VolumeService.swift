import LunarModel
import LunarStorage
import LunarWire

/// The volume flows that touch storage: place and create, resize, delete. Each keeps the
/// database and the provider in step: the database records the intent first (reserving
/// capacity), the provider acts, and the database records the outcome or rolls the intent back.
struct VolumeService: Sendable {
    let server: ServerContext

    var store: Store { server.store }

    /// Places an `Allocated` volume (on `poolID` when given) and reserves its capacity.
    /// - Throws: 533 naming each pool's reason when nothing fits.
    func place(_ volume: Volume, clusterID: ClusterID?, poolID: StoragePoolID?) async throws -> (Volume, StoragePool) {
        let tags = try await volume.diskOfferingID.asyncMap { try await store.diskOffering($0, includingDeleted: true)?.tags } ?? nil
        return try await store.placeVolume(volume.id, clusterID: clusterID, onPool: poolID, requiredTags: tags ?? [])
    }

    /// Creates the storage of a `Creating` volume through its pool's provider.
    /// On failure the volume returns to `Allocated` and its reservation is released.
    func createStorage(_ volume: Volume, context: JobContext?) async throws -> Volume {
        guard let poolID = volume.poolID, let (pool, details) = try await store.poolDescriptor(poolID) else {
            throw LunarError(.internalError, "volume \(volume.id.uuid) is being created without a pool")
        }
        do {
            let provider = try server.providers.require(pool.provider)
            if let minimum = volume.minIOPS, minimum > 0, !pool.guaranteesMinimum {
                // Placed all the same (the pool is not strictqos): said in the job and the log.
                let warning = "pool \(pool.name) cannot guarantee \(volume.name)'s minimum of \(minimum) IOPS (qosenforcedby \(provider.qosEnforcement.rawValue))"
                server.logger.notice("volume placed where its minimum is not guaranteed", metadata: ["volume.id": .string(volume.id.uuid), "pool": .string(pool.name), "min_iops": .stringConvertible(minimum)])
                if let context { try await context.warn(warning) }
            }
            let create: () async throws -> String
            if let template = try await imageTemplate(of: volume) {
                // A root disk from a template: a copy the storage makes of the pool's template volume.
                let source = try await TemplateService(server: server).copy(of: template, on: pool, details: details, context: context)
                create = { try await provider.createVolume(volume.descriptor, in: pool.descriptor(details: details), copyOf: source) }
            } else {
                create = { try await provider.createVolume(volume.descriptor, in: pool.descriptor(details: details)) }
            }
            let path: String
            if let context { path = try await context.step("create on \(pool.name)", detail: volume.id.uuid, create) } else { path = try await create() }
            return try await store.finishCreating(volume.id, path: path)
        } catch {
            try await Self.undo(error) { _ = try await store.abandonCreating(volume.id) }
        }
    }

    /// The template a root volume starts from, when it has an image (not the built-in template).
    /// - Throws: a 431 when the VM's template was deleted before its root disk was made.
    func imageTemplate(of volume: Volume) async throws -> Template? {
        guard volume.kind == .root, let vmID = volume.virtualMachineID, let vm = try await store.virtualMachine(vmID) else { return nil }
        guard let template = try await store.template(vm.templateID) else {
            throw LunarError.refused("VM \(vm.name)'s template \(vm.templateID.uuid) was deleted before its root disk was made")
        }
        guard template.hasImage else { return nil }
        guard Int64(volume.sizeBytes) >= template.sizeBytes else {
            throw LunarError.refused("root disk \(volume.name) (\(volume.sizeBytes) bytes) is smaller than template \(template.name) (\(template.sizeBytes) bytes)")
        }
        return template
    }

    /// Resizes a volume's storage to the figures `beginResizing` recorded; rolls back on failure.
    func resizeStorage(_ volume: Volume, context: JobContext?) async throws -> Volume {
        guard let poolID = volume.poolID, let (pool, details) = try await store.poolDescriptor(poolID) else {
            throw LunarError(.internalError, "volume \(volume.id.uuid) is being resized without a pool")
        }
        do {
            let provider = try server.providers.require(pool.provider)
            let resize = {
                try await provider.resize(
                    volume.descriptor, toBytes: volume.sizeBytes, minIOPS: volume.minIOPS, maxIOPS: volume.maxIOPS, in: pool.descriptor(details: details)
                )
            }
            if let context { try await context.step("resize on \(pool.name)", detail: volume.id.uuid, resize) } else { try await resize() }
            let resized = try await store.finishResizing(volume.id)
            try await pushLimits(resized, pool: pool, provider: provider, context: context)
            return resized
        } catch let error as LimitsNotApplied {
            throw error.error
        } catch {
            try await Self.undo(error) { _ = try await store.abandonResizing(volume.id) }
        }
    }

    /// The resize is recorded but the running VM's hypervisor did not take the new limits.
    struct LimitsNotApplied: Error {
        let error: LunarError
    }

    /// Gives a running VM's hypervisor the volume's new limits, live: its rate limits and, where
    /// the hypervisor enforces IOPS (`qosenforcedby` hypervisor), its maximum.
    func pushLimits(_ volume: Volume, pool: StoragePool, provider: any StorageProvider, context: JobContext?) async throws {
        let hypervisorEnforced = provider.qosEnforcement == .hypervisor
        guard hypervisorEnforced || !volume.rateLimits.isEmpty, let vmID = volume.virtualMachineID, let vm = try await store.virtualMachine(vmID), vm.state == .running,
            let hostID = vm.hostID, let host = try await store.host(hostID)
        else { return }
        let command = AgentCommand.setDiskLimits(
            vm: vmID, volume: volume.id, limits: volume.rateLimits.isEmpty ? nil : volume.rateLimits, totalIOPSLimit: hypervisorEnforced ? volume.maxIOPS : nil
        )
        do {
            let push = { _ = try await server.agents.call(command, on: hostID) }
            if let context { try await context.step("SetDiskLimits on \(host.name)", detail: volume.id.uuid, push) } else { try await push() }
        } catch {
            throw LimitsNotApplied(
                error: LunarError(
                    .internalError,
                    "volume \(volume.name) is resized, but VM \(vm.name) on \(host.name) did not take its new limits (they apply at its next start; repeating the resize tries again): \(error)"
                )
            )
        }
    }

    /// Deletes a volume: its storage first (through the provider), then its row. A volume whose
    /// storage could not be deleted stays `Destroy`, still holding its capacity, and may be retried.
    func delete(_ id: VolumeID) async throws {
        let volume = try await store.beginDeleting(id)
        guard volume.state == .destroy, let poolID = volume.poolID else { return }
        guard let (pool, details) = try await store.poolDescriptor(poolID) else {
            throw LunarError(.internalError, "volume \(id.uuid) is on a pool that no longer exists")
        }
        do {
            let provider = try server.providers.require(pool.provider)
            try await provider.deleteVolume(volume.descriptor, in: pool.descriptor(details: details))
        } catch let error as LunarError where error.code == .internalError {
            // The storage took the request and did not answer (or failed in its own way): it may
            // be gone. The volume stays Destroy, listed and holding its capacity; deleting it again
            // finishes it (a volume the storage no longer has counts as deleted).
            throw LunarError(.internalError, "\(error.text); the volume stays Destroy, delete it again")
        } catch {
            // Nothing was deleted (an unreachable SAN, a refusal): undo the intent, so the volume
            // is listed as before and can be deleted later. If even that write fails, the volume
            // stays Destroy (still deletable) and both errors are said.
            do {
                _ = try await store.abandonDeleting(id)
            } catch let rollback {
                throw LunarError(.internalError, "\(error); the volume stays Destroy (\(rollback)); delete it again")
            }
            throw error
        }
        try await store.finishDeleting(id)
    }

    /// Runs the undo of a failed step and rethrows the step's error; when the undo fails too,
    /// both are said (the volume then stays in its transitional state, which a retry resolves).
    static func undo(_ error: any Error, _ body: () async throws -> Void) async throws -> Never {
        do {
            try await body()
        } catch let undoError {
            throw LunarError(.internalError, "\(error); undoing it failed too: \(undoError)")
        }
        throw error
    }
}
