import LunarModel
import SQLKit

extension Store {
    // MARK: Zones

    public func createZone(_ zone: Zone) async throws {
        try await database.write { sql in
            if try await sql.raw("SELECT 1 FROM zones WHERE name = \(bind: zone.name)").first() != nil {
                throw LunarError.refused("A zone with name \(zone.name) already exists")
            }
            try await sql.raw(
                """
                INSERT INTO zones (id, name, description, network_type, dns1, dns2, internal_dns1, internal_dns2,
                    guest_cidr, network_domain, allocation_state, created) VALUES
                (\(bind: zone.id.uuid), \(bind: zone.name), \(bind: zone.description), \(bind: zone.networkType.rawValue),
                 \(bind: zone.dns1), \(bind: zone.dns2), \(bind: zone.internalDNS1), \(bind: zone.internalDNS2),
                 \(bind: zone.guestCIDR), \(bind: zone.networkDomain), \(bind: zone.allocationState.rawValue),
                 \(bind: zone.createdEpochSeconds))
                """
            ).run()
        }
    }

    public func zone(_ id: ZoneID) async throws -> Zone? {
        try await database.read { sql in
            try await sql.raw("SELECT * FROM zones WHERE id = \(bind: id.uuid)").first().map(Self.zone(from:))
        }
    }

    public func zones(id: ZoneID?, name: String?, keyword: String?, window: ListWindow) async throws -> Page<Zone> {
        try await database.read { sql in
            try await page(sql, table: "zones", window: window) { query in
                var query = query.filter("id", equals: id?.uuid).filter("name", equals: name)
                if let keyword { query = query.where(SQLColumn("name"), .like, SQLBind(Self.like(keyword))) }
                return query
            } map: { try Self.zone(from: $0) }
        }
    }

    /// Deletes an empty zone; a zone that still has pods, clusters or hosts is refused.
    public func deleteZone(_ id: ZoneID) async throws {
        try await database.write { sql in
            guard try await sql.raw("SELECT 1 FROM zones WHERE id = \(bind: id.uuid)").first() != nil else {
                throw LunarError.unknownID("zone", id.uuid)
            }
            let pods = try await count(sql, "SELECT COUNT(*) AS n FROM pods WHERE zone_id = \(bind: id.uuid)")
            if pods > 0 {
                throw LunarError.refused("The zone is not deletable because it still has \(pods) pod(s); delete them first")
            }
            let pools = try await count(sql, "SELECT COUNT(*) AS n FROM storage_pools WHERE zone_id = \(bind: id.uuid)")
            if pools > 0 {
                throw LunarError.refused("The zone is not deletable because it still has \(pools) storage pool(s); delete them first")
            }
            let volumes = try await count(sql, "SELECT COUNT(*) AS n FROM volumes WHERE zone_id = \(bind: id.uuid) AND state <> 'Expunged'")
            if volumes > 0 {
                throw LunarError.refused("The zone is not deletable because it still has \(volumes) volume(s); delete them first")
            }
            // Expunged volumes are history that named the zone; they go with it.
            try await sql.raw("DELETE FROM volumes WHERE zone_id = \(bind: id.uuid)").run()
            try await sql.raw("DELETE FROM zones WHERE id = \(bind: id.uuid)").run()
        }
    }

    // MARK: Pods

    public func createPod(_ pod: Pod) async throws {
        try await database.write { sql in try await insertPod(sql, pod) }
    }

    func insertPod(_ sql: any SQLDatabase, _ pod: Pod) async throws {
        guard try await sql.raw("SELECT 1 FROM zones WHERE id = \(bind: pod.zoneID.uuid)").first() != nil else {
            throw LunarError.unknownID("zone", pod.zoneID.uuid, parameter: "zoneid")
        }
        if try await sql.raw("SELECT 1 FROM pods WHERE zone_id = \(bind: pod.zoneID.uuid) AND name = \(bind: pod.name)").first() != nil {
            throw LunarError.refused("A pod with name \(pod.name) already exists in this zone")
        }
        try await sql.raw(
            """
            INSERT INTO pods (id, name, zone_id, gateway, netmask, start_ip, end_ip, allocation_state, created) VALUES
            (\(bind: pod.id.uuid), \(bind: pod.name), \(bind: pod.zoneID.uuid), \(bind: pod.gateway), \(bind: pod.netmask),
             \(bind: pod.startIP), \(bind: pod.endIP), \(bind: pod.allocationState.rawValue), \(bind: pod.createdEpochSeconds))
            """
        ).run()
    }

    public func pod(_ id: PodID) async throws -> Pod? {
        try await database.read { sql in
            try await sql.raw("SELECT * FROM pods WHERE id = \(bind: id.uuid)").first().map(Self.pod(from:))
        }
    }

    public func pods(id: PodID?, zoneID: ZoneID?, name: String?, keyword: String?, window: ListWindow) async throws -> Page<Pod> {
        try await database.read { sql in
            try await page(sql, table: "pods", window: window) { query in
                var query = query.filter("id", equals: id?.uuid).filter("zone_id", equals: zoneID?.uuid).filter("name", equals: name)
                if let keyword { query = query.where(SQLColumn("name"), .like, SQLBind(Self.like(keyword))) }
                return query
            } map: { try Self.pod(from: $0) }
        }
    }

    public func deletePod(_ id: PodID) async throws {
        try await database.write { sql in
            guard try await sql.raw("SELECT 1 FROM pods WHERE id = \(bind: id.uuid)").first() != nil else {
                throw LunarError.unknownID("pod", id.uuid)
            }
            let clusters = try await count(sql, "SELECT COUNT(*) AS n FROM clusters WHERE pod_id = \(bind: id.uuid)")
            if clusters > 0 {
                throw LunarError.refused("The pod is not deletable because it still has \(clusters) cluster(s); delete them first")
            }
            let pools = try await count(sql, "SELECT COUNT(*) AS n FROM storage_pools WHERE pod_id = \(bind: id.uuid)")
            if pools > 0 {
                throw LunarError.refused("The pod is not deletable because it still has \(pools) storage pool(s); delete them first")
            }
            try await sql.raw("DELETE FROM pods WHERE id = \(bind: id.uuid)").run()
        }
    }

    // MARK: Clusters

    /// Adds a cluster. Without a pod, the zone's only pod is used, or a pod named `default` is made
    /// (a zone may have one default pod).
    public func addCluster(_ cluster: Cluster, podGiven: Bool) async throws -> Cluster {
        try await database.write { sql in
            guard try await sql.raw("SELECT 1 FROM zones WHERE id = \(bind: cluster.zoneID.uuid)").first() != nil else {
                throw LunarError.unknownID("zone", cluster.zoneID.uuid, parameter: "zoneid")
            }
            var cluster = cluster
            if podGiven {
                guard let podRow = try await sql.raw("SELECT * FROM pods WHERE id = \(bind: cluster.podID.uuid)").first() else {
                    throw LunarError.unknownID("pod", cluster.podID.uuid, parameter: "podid")
                }
                let pod = try Self.pod(from: podRow)
                guard pod.zoneID == cluster.zoneID else {
                    throw LunarError.refused("Pod \(pod.name) is not in the given zone")
                }
            } else {
                let pods = try await sql.raw("SELECT * FROM pods WHERE zone_id = \(bind: cluster.zoneID.uuid)").all().map(Self.pod(from:))
                if pods.count > 1 {
                    throw LunarError.missingParameter("podid", command: "addCluster")
                } else if let only = pods.first {
                    cluster.podID = only.id
                } else {
                    let pod = Pod(
                        id: .random(), name: "default", zoneID: cluster.zoneID, gateway: nil, netmask: nil, startIP: nil, endIP: nil,
                        allocationState: .enabled, createdEpochSeconds: cluster.createdEpochSeconds
                    )
                    try await insertPod(sql, pod)
                    cluster.podID = pod.id
                }
            }
            if try await sql.raw("SELECT 1 FROM clusters WHERE zone_id = \(bind: cluster.zoneID.uuid) AND name = \(bind: cluster.name)").first() != nil {
                throw LunarError.refused("A cluster with name \(cluster.name) already exists in this zone")
            }
            try await sql.raw(
                """
                INSERT INTO clusters (id, name, zone_id, pod_id, hypervisor, cluster_type, allocation_state, created) VALUES
                (\(bind: cluster.id.uuid), \(bind: cluster.name), \(bind: cluster.zoneID.uuid), \(bind: cluster.podID.uuid),
                 \(bind: cluster.hypervisor.rawValue), \(bind: cluster.kind.rawValue), \(bind: cluster.allocationState.rawValue),
                 \(bind: cluster.createdEpochSeconds))
                """
            ).run()
            return cluster
        }
    }

    public func cluster(_ id: ClusterID) async throws -> Cluster? {
        try await database.read { sql in
            try await sql.raw("SELECT * FROM clusters WHERE id = \(bind: id.uuid)").first().map(Self.cluster(from:))
        }
    }

    public func clusters(
        id: ClusterID?, zoneID: ZoneID?, podID: PodID?, name: String?, hypervisor: HypervisorType?, keyword: String?, window: ListWindow
    ) async throws -> Page<Cluster> {
        try await database.read { sql in
            try await page(sql, table: "clusters", window: window) { query in
                var query = query.filter("id", equals: id?.uuid).filter("zone_id", equals: zoneID?.uuid)
                    .filter("pod_id", equals: podID?.uuid).filter("name", equals: name).filter("hypervisor", equals: hypervisor?.rawValue)
                if let keyword { query = query.where(SQLColumn("name"), .like, SQLBind(Self.like(keyword))) }
                return query
            } map: { try Self.cluster(from: $0) }
        }
    }

    public func deleteCluster(_ id: ClusterID) async throws {
        try await database.write { sql in
            guard try await sql.raw("SELECT 1 FROM clusters WHERE id = \(bind: id.uuid)").first() != nil else {
                throw LunarError.unknownID("cluster", id.uuid)
            }
            let hosts = try await count(sql, "SELECT COUNT(*) AS n FROM hosts WHERE cluster_id = \(bind: id.uuid)")
            if hosts > 0 {
                throw LunarError.refused("The cluster is not deletable because it still has \(hosts) host(s); remove them first")
            }
            let pools = try await count(sql, "SELECT COUNT(*) AS n FROM storage_pools WHERE cluster_id = \(bind: id.uuid)")
            if pools > 0 {
                throw LunarError.refused("The cluster is not deletable because it still has \(pools) storage pool(s); delete them first")
            }
            try await sql.raw("DELETE FROM clusters WHERE id = \(bind: id.uuid)").run()
        }
    }

    // MARK: Hosts

    public func hosts(
        id: HostID?, zoneID: ZoneID?, podID: PodID?, clusterID: ClusterID?, name: String?, state: Host.State?, keyword: String?,
        window: ListWindow
    ) async throws -> Page<Host> {
        try await database.read { sql in
            try await page(sql, table: "hosts", window: window) { query in
                var query = query.filter("id", equals: id?.uuid).filter("zone_id", equals: zoneID?.uuid)
                    .filter("pod_id", equals: podID?.uuid).filter("cluster_id", equals: clusterID?.uuid)
                    .filter("name", equals: name).filter("state", equals: state?.rawValue)
                if let keyword { query = query.where(SQLColumn("name"), .like, SQLBind(Self.like(keyword))) }
                return query
            } map: { try Self.host(from: $0) }
        }
    }

    // MARK: Rows

    func count(_ sql: any SQLDatabase, _ query: SQLQueryString) async throws -> Int {
        try await sql.raw(query).first()?.decode(column: "n", as: Int.self) ?? 0
    }

    static func zone(from row: any SQLRow) throws -> Zone {
        Zone(
            id: ZoneID(trusted: try row.decode(column: "id", as: String.self)),
            name: try row.decode(column: "name", as: String.self),
            description: try row.decode(column: "description", as: String?.self),
            networkType: try decodeEnum(row, "network_type", as: Zone.NetworkType.self),
            dns1: try row.decode(column: "dns1", as: String.self),
            dns2: try row.decode(column: "dns2", as: String?.self),
            internalDNS1: try row.decode(column: "internal_dns1", as: String.self),
            internalDNS2: try row.decode(column: "internal_dns2", as: String?.self),
            guestCIDR: try row.decode(column: "guest_cidr", as: String?.self),
            networkDomain: try row.decode(column: "network_domain", as: String?.self),
            allocationState: try decodeEnum(row, "allocation_state", as: AllocationState.self),
            createdEpochSeconds: try row.decode(column: "created", as: Int64.self)
        )
    }

    static func pod(from row: any SQLRow) throws -> Pod {
        Pod(
            id: PodID(trusted: try row.decode(column: "id", as: String.self)),
            name: try row.decode(column: "name", as: String.self),
            zoneID: ZoneID(trusted: try row.decode(column: "zone_id", as: String.self)),
            gateway: try row.decode(column: "gateway", as: String?.self),
            netmask: try row.decode(column: "netmask", as: String?.self),
            startIP: try row.decode(column: "start_ip", as: String?.self),
            endIP: try row.decode(column: "end_ip", as: String?.self),
            allocationState: try decodeEnum(row, "allocation_state", as: AllocationState.self),
            createdEpochSeconds: try row.decode(column: "created", as: Int64.self)
        )
    }

    static func cluster(from row: any SQLRow) throws -> Cluster {
        Cluster(
            id: ClusterID(trusted: try row.decode(column: "id", as: String.self)),
            name: try row.decode(column: "name", as: String.self),
            zoneID: ZoneID(trusted: try row.decode(column: "zone_id", as: String.self)),
            podID: PodID(trusted: try row.decode(column: "pod_id", as: String.self)),
            hypervisor: try decodeEnum(row, "hypervisor", as: HypervisorType.self),
            kind: try decodeEnum(row, "cluster_type", as: Cluster.Kind.self),
            allocationState: try decodeEnum(row, "allocation_state", as: AllocationState.self),
            createdEpochSeconds: try row.decode(column: "created", as: Int64.self)
        )
    }

    static func host(from row: any SQLRow) throws -> Host {
        var host = Host(
            id: HostID(trusted: try row.decode(column: "id", as: String.self)),
            name: try row.decode(column: "name", as: String.self),
            zoneID: ZoneID(trusted: try row.decode(column: "zone_id", as: String.self)),
            podID: PodID(trusted: try row.decode(column: "pod_id", as: String.self)),
            clusterID: ClusterID(trusted: try row.decode(column: "cluster_id", as: String.self)),
            hypervisor: try decodeEnum(row, "hypervisor", as: HypervisorType.self),
            ipAddress: try row.decode(column: "ip_address", as: String.self),
            initiatorIQN: try row.decode(column: "initiator_iqn", as: String?.self),
            state: try decodeEnum(row, "state", as: Host.State.self),
            resourceState: try decodeEnum(row, "resource_state", as: Host.ResourceState.self),
            cpuCores: try row.decode(column: "cpu_cores", as: Int.self),
            cpuSpeedMHz: try row.decode(column: "cpu_speed_mhz", as: Int.self),
            memoryBytes: try row.decode(column: "memory_bytes", as: Int64.self),
            lastPingedEpochSeconds: try row.decode(column: "last_pinged", as: Int64?.self),
            createdEpochSeconds: try row.decode(column: "created", as: Int64.self)
        )
        host.accel = try row.decode(column: "accel", as: String?.self)
        return host
    }
}
