import Foundation
import LunarModel
import LunarStorage

extension StoragePool {
    /// CloudStack's storage pool response. `disksizeused` is what the provider reports is really
    /// written; `disksizeallocated` is what placed volumes reserve.
    func response(zone: Zone?, pod: Pod?, cluster: Cluster?, usedBytes: Int64?, overprovisionFactor: String, enforcement: QoSEnforcement) -> JSONObject {
        // CloudStack shows the pool's address and path apart; never the SAN token the URL carries.
        let location = URLComponents(string: url)
        return JSONObject([
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
            "ipaddress": (location?.host.flatMap { $0.isEmpty ? nil : $0 } ?? "localhost").json,
            "path": (location?.path.isEmpty == false ? location!.path : "/").json,
            "url": LunarStorageProvider.redacted(url).json,
            "provider": provider.json,
            "managed": isManaged.json,
            "disksizetotal": capacityBytes.json,
            "disksizeallocated": allocatedBytes.json,
            "disksizeused": usedBytes.map(JSONValue.integer),
            "overprovisionfactor": overprovisionFactor.json,
            "capacityiops": capacityIOPS.map(JSONValue.integer),
            "allocatediops": allocatedIOPS.json,
            "state": state.rawValue.json,
            "tags": tags.isEmpty ? nil : StorageTags.join(tags).json,
            "istagarule": false,
            "hypervisor": (hypervisor?.rawValue ?? (scope == .zone ? "Any" : "Simulator")).json,
            "created": CloudStackDate.format(epochSeconds: createdEpochSeconds).json,
            "suitableformigration": (state == .up).json,
            "hasannotations": false,
            "strictqos": strictQoS.json,
            // What the pool's storage can do, as CloudStack lists it; Lunar adds its QoS.
            "storagecapabilities": .object(
                JSONObject([
                    "VOLUME_SNAPSHOT_QUIESCEVM": "false",
                    "STORAGE_SYSTEM_SNAPSHOT": "false",
                    "CAN_CREATE_VOLUME_FROM_VOLUME": "false",
                    "CAN_REVERT_VOLUME_TO_SNAPSHOT": "false",
                    "MIN_IOPS_GUARANTEED": enforcement.guaranteesMinimum ? "true" : "false",
                    "QOS_ENFORCED_BY": enforcement.rawValue.json,
                ])
            ),
        ])
    }

    func descriptor(details: [String: String] = [:]) -> PoolDescriptor {
        PoolDescriptor(id: id, name: name, url: url, capacityBytes: capacityBytes, capacityIOPS: capacityIOPS, details: details)
    }
}

extension ServerContext {
    /// A pool's response with names and the provider's used bytes.
    func poolResponse(_ pool: StoragePool, names: inout NameCache) async throws -> JSONObject {
        // A listing still answers when a storage node does not: its used bytes are left out.
        let used: Int64?
        do {
            // With its details: a lunar pool's SAN token is kept there, not in the URL.
            let details = try await store.poolDescriptor(pool.id)?.1 ?? [:]
            used = try await providers.provider(named: pool.provider)?.capacity(of: pool.descriptor(details: details)).usedBytes
        } catch {
            logger.warning("a pool's storage did not report its capacity", metadata: ["pool.id": .string(pool.id.uuid), "error": .string("\(error)")])
            used = nil
        }
        return pool.response(
            zone: try await names.zone(pool.zoneID),
            pod: try await pool.podID.asyncMap { try await names.pod($0) } ?? nil,
            cluster: try await pool.clusterID.asyncMap { try await names.cluster($0) } ?? nil,
            usedBytes: used,
            overprovisionFactor: try await store.setting(GlobalSetting.overprovisioningFactor.name) ?? GlobalSetting.overprovisioningFactor.defaultValue,
            enforcement: providers.provider(named: pool.provider)?.qosEnforcement ?? .none
        )
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
