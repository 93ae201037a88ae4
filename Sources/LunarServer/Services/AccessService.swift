import LunarModel
import LunarStorage

/// Grants and revokes hosts' access to volumes on managed storage, recording each grant so the
/// reconciler can tell justified access from leftovers. Order keeps storage access a subset of
/// the records at every moment a crash could stop us: a grant is recorded before the storage
/// allows it; a revoke fences at the storage before its record goes.
struct AccessService: Sendable {
    let server: ServerContext

    var store: Store { server.store }

    func poolOf(_ volume: Volume) async throws -> (StoragePool, [String: String], any StorageProvider) {
        guard let poolID = volume.poolID, let path = volume.path, !path.isEmpty, let (pool, details) = try await store.poolDescriptor(poolID) else {
            throw LunarError.refused("volume \(volume.id.uuid) has no storage yet")
        }
        return (pool, details, try server.providers.require(pool.provider))
    }

    /// Lets `host` reach `volume` and says how.
    func grant(_ volume: Volume, to host: LunarModel.Host, reason: VolumeGrant.Reason, jobID: String?) async throws -> VolumeConnection {
        let (pool, details, provider) = try await poolOf(volume)
        if pool.isManaged { guard host.initiatorIQN != nil else { throw LunarError.refused("host \(host.name) has no iSCSI initiator name") } }
        try await store.recordGrant(
            VolumeGrant(volumeID: volume.id, hostID: host.id, reason: reason, jobID: jobID, createdEpochSeconds: server.time.nowEpochSeconds())
        )
        do {
            return try await provider.grantAccess(to: volume.descriptor, for: host.descriptor, in: pool.descriptor(details: details))
        } catch let error as LunarError where error.code == .resourceUnavailable {
            // The storage was never reached: nothing was granted, and the record goes.
            try await VolumeService.undo(error) { try await store.removeGrant(volume: volume.id, host: host.id) }
        } catch {
            // A lost answer may hide a grant made: the storage takes it back (a no-op when it was
            // not made) before the record goes. If the storage cannot be reached for that, the
            // record stays, so access stays within the records and the reconciler finishes it.
            do {
                try await provider.revokeAccess(to: volume.descriptor, for: host.descriptor, in: pool.descriptor(details: details))
                try await store.removeGrant(volume: volume.id, host: host.id)
            } catch let undo {
                server.logger.error("a failed grant could not be undone; its record stays", metadata: ["volume.id": .string(volume.id.uuid), "host.id": .string(host.id.uuid), "error": .string("\(undo)")])
            }
            throw error
        }
    }

    /// Takes `host`'s access away; when this returns the host can no longer write.
    func revoke(_ volume: Volume, from host: LunarModel.Host) async throws {
        let (pool, details, provider) = try await poolOf(volume)
        try await provider.revokeAccess(to: volume.descriptor, for: host.descriptor, in: pool.descriptor(details: details))
        try await store.removeGrant(volume: volume.id, host: host.id)
    }
}

extension LunarModel.Host {
    var descriptor: HostDescriptor { HostDescriptor(id: id, name: name, initiatorIQN: initiatorIQN) }
}
