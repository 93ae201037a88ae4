import LunarModel

extension Zone {
    /// CloudStack's zone response.
    var response: JSONObject {
        JSONObject([
            "id": id.uuid.json,
            "name": name.json,
            "description": description.json,
            "dns1": dns1.json,
            "dns2": dns2.json,
            "internaldns1": internalDNS1.json,
            "internaldns2": internalDNS2.json,
            "guestcidraddress": guestCIDR.json,
            "domain": networkDomain.json,
            "networktype": networkType.rawValue.json,
            "allocationstate": allocationState.rawValue.json,
            "securitygroupsenabled": false,
            "localstorageenabled": false,
            "dhcpprovider": "VirtualRouter",
            "created": CloudStackDate.format(epochSeconds: createdEpochSeconds).json,
        ])
    }
}

extension Pod {
    func response(zone: Zone?) -> JSONObject {
        JSONObject([
            "id": id.uuid.json,
            "name": name.json,
            "zoneid": zoneID.uuid.json,
            "zonename": zone?.name.json,
            "gateway": gateway.json,
            "netmask": netmask.json,
            "startip": startIP.json,
            "endip": endIP.json,
            "allocationstate": allocationState.rawValue.json,
        ])
    }
}

extension Cluster {
    func response(zone: Zone?, pod: Pod?) -> JSONObject {
        JSONObject([
            "id": id.uuid.json,
            "name": name.json,
            "zoneid": zoneID.uuid.json,
            "zonename": zone?.name.json,
            "podid": podID.uuid.json,
            "podname": pod?.name.json,
            "hypervisortype": hypervisor.rawValue.json,
            "clustertype": kind.rawValue.json,
            "allocationstate": allocationState.rawValue.json,
            "managedstate": "Managed",
        ])
    }
}

extension Host {
    func response(zone: Zone?, pod: Pod?, cluster: Cluster?) -> JSONObject {
        JSONObject([
            "id": id.uuid.json,
            "name": name.json,
            "type": "Routing",
            "state": state.rawValue.json,
            "resourcestate": resourceState.rawValue.json,
            "ipaddress": ipAddress.json,
            "hypervisor": hypervisor.rawValue.json,
            "accel": accel.json,
            "zoneid": zoneID.uuid.json,
            "zonename": zone?.name.json,
            "podid": podID.uuid.json,
            "podname": pod?.name.json,
            "clusterid": clusterID.uuid.json,
            "clustername": cluster?.name.json,
            "clustertype": cluster?.kind.rawValue.json,
            "cpunumber": cpuCores.json,
            "cpuspeed": cpuSpeedMHz.json,
            "memorytotal": memoryBytes.json,
            "initiatoriqn": initiatorIQN.json,
            "lastpinged": lastPingedEpochSeconds.map { CloudStackDate.format(epochSeconds: $0).json },
            // When it lost its agent (CloudStack's `disconnected`): the last heartbeat of a host not Up.
            "disconnected": (state == .up ? nil : lastPingedEpochSeconds.map { CloudStackDate.format(epochSeconds: $0) }).json,
            "hasannotations": false,
            "created": CloudStackDate.format(epochSeconds: createdEpochSeconds).json,
        ])
    }
}

/// Looks up names for ids once per request (responses carry `zonename`, `podname`, ...).
struct NameCache {
    let store: Store
    var zones: [ZoneID: Zone] = [:]
    var pods: [PodID: Pod] = [:]
    var clusters: [ClusterID: Cluster] = [:]
    var accounts: [AccountID: Account] = [:]
    var diskOfferings: [DiskOfferingID: DiskOffering] = [:]
    var pools: [StoragePoolID: StoragePool] = [:]
    var templates: [TemplateID: Template?] = [:]

    init(store: Store) { self.store = store }

    mutating func template(_ id: TemplateID) async throws -> Template? {
        if let template = templates[id] { return template }
        let template = try await store.template(id)
        templates[id] = template
        return template
    }

    mutating func account(_ id: AccountID) async throws -> Account? {
        if let account = accounts[id] { return account }
        let account = try await store.account(id)
        accounts[id] = account
        return account
    }

    mutating func diskOffering(_ id: DiskOfferingID) async throws -> DiskOffering? {
        if let offering = diskOfferings[id] { return offering }
        let offering = try await store.diskOffering(id, includingDeleted: true)
        diskOfferings[id] = offering
        return offering
    }

    mutating func pool(_ id: StoragePoolID) async throws -> StoragePool? {
        if let pool = pools[id] { return pool }
        let pool = try await store.storagePool(id)
        pools[id] = pool
        return pool
    }

    mutating func zone(_ id: ZoneID) async throws -> Zone? {
        if let zone = zones[id] { return zone }
        let zone = try await store.zone(id)
        zones[id] = zone
        return zone
    }

    mutating func pod(_ id: PodID) async throws -> Pod? {
        if let pod = pods[id] { return pod }
        let pod = try await store.pod(id)
        pods[id] = pod
        return pod
    }

    mutating func cluster(_ id: ClusterID) async throws -> Cluster? {
        if let cluster = clusters[id] { return cluster }
        let cluster = try await store.cluster(id)
        clusters[id] = cluster
        return cluster
    }
}
