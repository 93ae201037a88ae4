import LunarModel

/// Zones, pods, clusters and the host listing.
enum InfrastructureCommands {
    static let all: [APICommand] = [createZone, listZones, deleteZone, createPod, listPods, deletePod, addCluster, listClusters, deleteCluster, listHosts]

    static let zoneFields = [
        APIResponseField("id", "the zone id"), APIResponseField("name", "the zone name"),
        APIResponseField("description", "the description"), APIResponseField("networktype", "Basic or Advanced"),
        APIResponseField("dns1", "first public DNS"), APIResponseField("internaldns1", "first internal DNS"),
        APIResponseField("allocationstate", "Enabled or Disabled"),
    ]

    static let createZone = APICommand(
        name: "createZone",
        description: "Creates a zone",
        access: .rootAdmin,
        parameters: [
            APIParameter("name", .string, required: true, "The zone name"),
            APIParameter("networktype", .string, required: true, "Basic or Advanced"),
            APIParameter("dns1", .string, required: true, "First public DNS server"),
            APIParameter("internaldns1", .string, required: true, "First internal DNS server"),
            APIParameter("dns2", .string, "Second public DNS server"),
            APIParameter("internaldns2", .string, "Second internal DNS server"),
            APIParameter("guestcidraddress", .string, "Guest CIDR"),
            APIParameter("domain", .string, "Network domain"),
            APIParameter("description", .string, "A description"),
            APIParameter("allocationstate", .string, "Enabled (default) or Disabled"),
        ],
        responseName: "zone",
        responseFields: zoneFields,
        execution: .sync { call in
            let p = call.parameters
            let command = call.command.name
            let zone = Zone(
                id: .random(),
                name: try p.requiredString("name", command: command),
                description: p["description"],
                networkType: try p.choice("networktype", as: Zone.NetworkType.self) ?? .advanced,
                dns1: try p.requiredString("dns1", command: command),
                dns2: p["dns2"],
                internalDNS1: try p.requiredString("internaldns1", command: command),
                internalDNS2: p["internaldns2"],
                guestCIDR: p["guestcidraddress"],
                networkDomain: p["domain"],
                allocationState: try p.choice("allocationstate", as: AllocationState.self) ?? .enabled,
                createdEpochSeconds: call.server.time.nowEpochSeconds()
            )
            try await call.server.store.createZone(zone)
            return .object(name: "zone", zone.response)
        }
    )

    static let listZones = APICommand(
        name: "listZones",
        description: "Lists zones",
        access: .anyUser,
        parameters: [
            APIParameter("id", .uuid, "List by id"), APIParameter("name", .string, "List by name"),
            APIParameter("available", .boolean, "Only zones open to the caller"),
        ] + APIParameter.listing,
        responseName: "zone",
        responseFields: zoneFields,
        execution: .sync { call in
            let p = call.parameters
            let page = try await call.server.store.zones(id: try p.id("id"), name: p["name"], keyword: p["keyword"], window: try p.window())
            return .list(name: "zone", items: page.items.map(\.response), total: page.total)
        }
    )

    static let deleteZone = APICommand(
        name: "deleteZone",
        description: "Deletes a zone that has no pods",
        access: .rootAdmin,
        parameters: [APIParameter("id", .uuid, required: true, "The zone")],
        responseFields: [APIResponseField("success", "boolean", "true when done")],
        execution: .sync { call in
            try await call.server.store.deleteZone(try call.parameters.requiredID("id", command: call.command.name))
            return .success
        }
    )

    static let podFields = [
        APIResponseField("id", "the pod id"), APIResponseField("name", "the pod name"),
        APIResponseField("zoneid", "the zone id"), APIResponseField("zonename", "the zone name"),
        APIResponseField("gateway", "the gateway"), APIResponseField("netmask", "the netmask"),
        APIResponseField("allocationstate", "Enabled or Disabled"),
    ]

    static let createPod = APICommand(
        name: "createPod",
        description: "Creates a pod in a zone",
        access: .rootAdmin,
        parameters: [
            APIParameter("name", .string, required: true, "The pod name"),
            APIParameter("zoneid", .uuid, required: true, "The zone"),
            APIParameter("gateway", .string, "The gateway"),
            APIParameter("netmask", .string, "The netmask"),
            APIParameter("startip", .string, "First management IP"),
            APIParameter("endip", .string, "Last management IP"),
            APIParameter("allocationstate", .string, "Enabled (default) or Disabled"),
        ],
        responseName: "pod",
        responseFields: podFields,
        execution: .sync { call in
            let p = call.parameters
            let pod = Pod(
                id: .random(), name: try p.requiredString("name", command: call.command.name),
                zoneID: try p.requiredID("zoneid", command: call.command.name), gateway: p["gateway"], netmask: p["netmask"],
                startIP: p["startip"], endIP: p["endip"], allocationState: try p.choice("allocationstate", as: AllocationState.self) ?? .enabled,
                createdEpochSeconds: call.server.time.nowEpochSeconds()
            )
            try await call.server.store.createPod(pod)
            return .object(name: "pod", pod.response(zone: try await call.server.store.zone(pod.zoneID)))
        }
    )

    static let listPods = APICommand(
        name: "listPods",
        description: "Lists pods",
        access: .rootAdmin,
        parameters: [
            APIParameter("id", .uuid, "List by id"), APIParameter("zoneid", .uuid, "List by zone"),
            APIParameter("name", .string, "List by name"),
        ] + APIParameter.listing,
        responseName: "pod",
        responseFields: podFields,
        execution: .sync { call in
            let p = call.parameters
            let page = try await call.server.store.pods(
                id: try p.id("id"), zoneID: try p.id("zoneid"), name: p["name"], keyword: p["keyword"], window: try p.window()
            )
            var names = NameCache(store: call.server.store)
            var items: [JSONObject] = []
            for pod in page.items { items.append(pod.response(zone: try await names.zone(pod.zoneID))) }
            return .list(name: "pod", items: items, total: page.total)
        }
    )

    static let deletePod = APICommand(
        name: "deletePod",
        description: "Deletes a pod that has no clusters",
        access: .rootAdmin,
        parameters: [APIParameter("id", .uuid, required: true, "The pod")],
        responseFields: [APIResponseField("success", "boolean", "true when done")],
        execution: .sync { call in
            try await call.server.store.deletePod(try call.parameters.requiredID("id", command: call.command.name))
            return .success
        }
    )

    static let clusterFields = [
        APIResponseField("id", "the cluster id"), APIResponseField("name", "the cluster name"),
        APIResponseField("zoneid", "the zone id"), APIResponseField("podid", "the pod id"),
        APIResponseField("hypervisortype", "Simulator or KVM"), APIResponseField("clustertype", "CloudManaged"),
        APIResponseField("allocationstate", "Enabled or Disabled"),
    ]

    static let addCluster = APICommand(
        name: "addCluster",
        description: "Adds a cluster of hosts of one hypervisor type; without podid, the zone's default pod",
        access: .rootAdmin,
        parameters: [
            APIParameter("clustername", .string, required: true, "The cluster name"),
            APIParameter("zoneid", .uuid, required: true, "The zone"),
            APIParameter("hypervisor", .string, required: true, "Simulator or KVM"),
            APIParameter("clustertype", .string, required: true, "CloudManaged or ExternalManaged"),
            APIParameter("podid", .uuid, "The pod; the zone's only pod, or a new default pod, when absent"),
            APIParameter("allocationstate", .string, "Enabled (default) or Disabled"),
        ],
        responseName: "cluster",
        responseFields: clusterFields,
        execution: .sync { call in
            let p = call.parameters
            let command = call.command.name
            let hypervisorText = try p.requiredString("hypervisor", command: command)
            guard let hypervisor = HypervisorType(caseInsensitive: hypervisorText) else {
                throw LunarError.invalidParameter("hypervisor", value: hypervisorText, reason: "expected Simulator or KVM")
            }
            let podID = try p.id("podid", as: PodID.self)
            let cluster = try await call.server.store.addCluster(
                Cluster(
                    id: .random(), name: try p.requiredString("clustername", command: command), zoneID: try p.requiredID("zoneid", command: command),
                    podID: podID ?? PodID.random(), hypervisor: hypervisor,
                    kind: try p.choice("clustertype", as: Cluster.Kind.self) ?? .cloudManaged,
                    allocationState: try p.choice("allocationstate", as: AllocationState.self) ?? .enabled,
                    createdEpochSeconds: call.server.time.nowEpochSeconds()
                ),
                podGiven: podID != nil
            )
            var names = NameCache(store: call.server.store)
            // CloudStack answers addCluster with a list of one.
            return .list(
                name: "cluster",
                items: [cluster.response(zone: try await names.zone(cluster.zoneID), pod: try await names.pod(cluster.podID))],
                total: 1
            )
        }
    )

    static let listClusters = APICommand(
        name: "listClusters",
        description: "Lists clusters",
        access: .rootAdmin,
        parameters: [
            APIParameter("id", .uuid, "List by id"), APIParameter("zoneid", .uuid, "List by zone"),
            APIParameter("podid", .uuid, "List by pod"), APIParameter("name", .string, "List by name"),
            APIParameter("hypervisor", .string, "List by hypervisor type"),
        ] + APIParameter.listing,
        responseName: "cluster",
        responseFields: clusterFields,
        execution: .sync { call in
            let p = call.parameters
            var hypervisor: HypervisorType?
            if let text = p["hypervisor"] {
                guard let parsed = HypervisorType(caseInsensitive: text) else {
                    throw LunarError.invalidParameter("hypervisor", value: text, reason: "expected Simulator or KVM")
                }
                hypervisor = parsed
            }
            let page = try await call.server.store.clusters(
                id: try p.id("id"), zoneID: try p.id("zoneid"), podID: try p.id("podid"), name: p["name"], hypervisor: hypervisor,
                keyword: p["keyword"], window: try p.window()
            )
            var names = NameCache(store: call.server.store)
            var items: [JSONObject] = []
            for cluster in page.items {
                items.append(cluster.response(zone: try await names.zone(cluster.zoneID), pod: try await names.pod(cluster.podID)))
            }
            return .list(name: "cluster", items: items, total: page.total)
        }
    )

    static let deleteCluster = APICommand(
        name: "deleteCluster",
        description: "Deletes a cluster that has no hosts",
        access: .rootAdmin,
        parameters: [APIParameter("id", .uuid, required: true, "The cluster")],
        responseFields: [APIResponseField("success", "boolean", "true when done")],
        execution: .sync { call in
            try await call.server.store.deleteCluster(try call.parameters.requiredID("id", command: call.command.name))
            return .success
        }
    )

    static let listHosts = APICommand(
        name: "listHosts",
        description: "Lists hypervisor hosts (they appear when their agents register)",
        access: .rootAdmin,
        parameters: [
            APIParameter("id", .uuid, "List by id"), APIParameter("zoneid", .uuid, "List by zone"),
            APIParameter("podid", .uuid, "List by pod"), APIParameter("clusterid", .uuid, "List by cluster"),
            APIParameter("name", .string, "List by name"), APIParameter("state", .string, "List by state (Up, Down, ...)"),
            APIParameter("type", .string, "Host type (Routing)"),
        ] + APIParameter.listing,
        responseName: "host",
        responseFields: [
            APIResponseField("id", "the host id"), APIResponseField("name", "the host name"),
            APIResponseField("state", "Up, Down, Disconnected, ..."), APIResponseField("resourcestate", "Enabled, Maintenance, ..."),
            APIResponseField("ipaddress", "the host address"), APIResponseField("hypervisor", "Simulator or KVM"),
            APIResponseField("clusterid", "the cluster id"),
        ],
        execution: .sync { call in
            let p = call.parameters
            if let type = p["type"], type.lowercased() != "routing" { return .list(name: "host", items: [], total: 0) }
            let page = try await call.server.store.hosts(
                id: try p.id("id"), zoneID: try p.id("zoneid"), podID: try p.id("podid"), clusterID: try p.id("clusterid"),
                name: p["name"], state: try p.choice("state", as: Host.State.self), keyword: p["keyword"], window: try p.window()
            )
            var names = NameCache(store: call.server.store)
            var items: [JSONObject] = []
            for host in page.items {
                items.append(
                    host.response(
                        zone: try await names.zone(host.zoneID), pod: try await names.pod(host.podID), cluster: try await names.cluster(host.clusterID)
                    )
                )
            }
            return .list(name: "host", items: items, total: page.total)
        }
    )
}
