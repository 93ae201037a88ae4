import LunarModel
import LunarStorage

extension StoragePool {
    /// CloudStack's storage pool response. `disksizeused` is what the provider reports is really
    /// written; `disksizeallocated` is what placed volumes reserve.
    func response(zone: Zone?, pod: Pod?, cluster: Cluster?, usedBytes: Int64?) -> JSONObject {
        JSONObject([
            "id": id.uuid.json,
            "name": name.json,
            "zoneid": zoneID.uuid.json,
            "zonename": zone?.name.json,
            "podid": podID?.uuid.json,
            "podname": pod?.name.json,
            "clusterid": clusterID?.uuid.json,
            "clustername": cluster?.name.json,
            "scope": scope.rawValue.json,
            "type": (isManaged ? "Iscsi" : "Filesystem").json,
            // Never the SAN token a managed pool URL carries.
            "path": LunarStorageProvider.redacted(url).json,
            "provider": provider.json,
            "managed": isManaged.json,
            "disksizetotal": capacityBytes.json,
            "disksizeallocated": allocatedBytes.json,
            "disksizeused": usedBytes.map(JSONValue.integer),
            "capacityiops": capacityIOPS.map(JSONValue.integer),
            "allocatediops": allocatedIOPS.json,
            "state": state.rawValue.json,
            "tags": tags.isEmpty ? nil : StorageTags.join(tags).json,
            "hypervisor": hypervisor?.rawValue.json,
            "created": CloudStackDate.format(epochSeconds: createdEpochSeconds).json,
        ])
    }

    func descriptor(details: [String: String] = [:]) -> PoolDescriptor {
        PoolDescriptor(id: id, name: name, url: url, capacityBytes: capacityBytes, capacityIOPS: capacityIOPS, details: details)
    }
}

extension ServerContext {
    /// A pool's response with names and the provider's used bytes.
    func poolResponse(_ pool: StoragePool, names: inout NameCache) async throws -> JSONObject {
        let used = try? await providers.provider(named: pool.provider)?.capacity(of: pool.descriptor()).usedBytes
        return pool.response(
            zone: try await names.zone(pool.zoneID),
            pod: try await pool.podID.asyncMap { try await names.pod($0) } ?? nil,
            cluster: try await pool.clusterID.asyncMap { try await names.cluster($0) } ?? nil,
            usedBytes: used
        )
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
