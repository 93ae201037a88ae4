import LunarModel
import LunarStorage

/// Primary storage pools and their providers.
enum PoolCommands {
    static let all: [APICommand] = [
        createStoragePool, listStoragePools, updateStoragePool, deleteStoragePool, enableStorageMaintenance, cancelStorageMaintenance,
        listStorageProviders,
    ]

    static let poolFields = [
        APIResponseField("id", "the pool id"), APIResponseField("name", "the name"), APIResponseField("scope", "ZONE or CLUSTER"),
        APIResponseField("provider", "the provider"), APIResponseField("managed", "boolean", "one LUN per volume, QoS at the storage"),
        APIResponseField("disksizetotal", "long", "capacity in bytes"), APIResponseField("disksizeallocated", "long", "bytes reserved by volumes"),
        APIResponseField("disksizeused", "long", "bytes really written"), APIResponseField("capacityiops", "long", "IOPS the pool can guarantee"),
        APIResponseField("allocatediops", "long", "sum of the minimum IOPS of its volumes"), APIResponseField("state", "Up, Maintenance, Disabled"),
        APIResponseField("tags", "storage tags"),
    ]

    static let createStoragePool = APICommand(
        name: "createStoragePool",
        description: "Creates a primary storage pool through its provider (local: url=file:///path)",
        access: .rootAdmin,
        parameters: [
            APIParameter("name", .string, required: true, "The pool name"),
            APIParameter("zoneid", .uuid, required: true, "The zone"),
            APIParameter("url", .string, required: true, length: 2048, "Where the storage is (file:///path for local)"),
            APIParameter("podid", .uuid, "The pod (cluster scope)"),
            APIParameter("clusterid", .uuid, "The cluster (cluster scope)"),
            APIParameter("scope", .string, "zone or cluster (cluster when clusterid is given)"),
            APIParameter("provider", .string, "The provider: local (default)"),
            APIParameter("managed", .boolean, "Must match the provider when given"),
            APIParameter("capacitybytes", .long, "Capacity in bytes (what the provider measures when absent)"),
            APIParameter("capacityiops", .long, "IOPS the pool can guarantee; the sum of volume minimums stays within it"),
            APIParameter("tags", .string, length: 4096, "Storage tags, comma-separated"),
            APIParameter("hypervisor", .string, "Simulator or KVM"),
            APIParameter("strictqos", .boolean, "Lunar: refuse volumes with a minimum IOPS the storage cannot reserve (default false: place them with a warning)"),
        ],
        responseName: "storagepool",
        responseFields: poolFields,
        execution: .sync { call in
            let p = call.parameters
            let command = call.command.name
            let store = call.server.store
            let zoneID: ZoneID = try p.requiredID("zoneid", command: command)
            guard try await store.zone(zoneID) != nil else { throw LunarError.unknownID("zone", zoneID.uuid, parameter: "zoneid") }
            let provider = try call.server.providers.require(p["provider"] ?? "local")
            if let managed = try p.bool("managed"), managed != provider.isManaged {
                throw LunarError.invalidParameter("managed", value: String(managed), reason: "provider \(provider.name) is \(provider.isManaged ? "managed" : "unmanaged")")
            }
            var clusterID: ClusterID? = try p.id("clusterid")
            var podID: PodID? = try p.id("podid")
            let scopeText = p["scope"]?.lowercased() ?? (clusterID == nil ? "zone" : "cluster")
            let scope: StoragePool.Scope
            switch scopeText {
            case "zone":
                scope = .zone
                guard clusterID == nil else { throw LunarError.refused("a zone-wide pool takes no clusterid") }
                podID = nil
            case "cluster":
                scope = .cluster
                guard let id = clusterID else { throw LunarError.missingParameter("clusterid", command: command) }
                guard let cluster = try await store.cluster(id), cluster.zoneID == zoneID else {
                    throw LunarError.unknownID("cluster", id.uuid, parameter: "clusterid")
                }
                if let podID, podID != cluster.podID { throw LunarError.refused("the cluster is not in the given pod") }
                podID = cluster.podID
                clusterID = id
            default:
                throw LunarError.invalidParameter("scope", value: scopeText, reason: "expected zone or cluster")
            }
            var hypervisor: HypervisorType?
            if let text = p["hypervisor"] {
                guard let parsed = HypervisorType(caseInsensitive: text) else {
                    throw LunarError.invalidParameter("hypervisor", value: text, reason: "expected Simulator or KVM")
                }
                hypervisor = parsed
            }
            let capacityBytes = try p.int64("capacitybytes")
            let capacityIOPS = try p.int64("capacityiops")
            if let capacityBytes, capacityBytes <= 0 { throw LunarError.invalidParameter("capacitybytes", value: String(capacityBytes), reason: "must be positive") }
            if let capacityIOPS, capacityIOPS <= 0 { throw LunarError.invalidParameter("capacityiops", value: String(capacityIOPS), reason: "must be positive") }
            let name = try p.requiredString("name", command: command)
            let url = try p.requiredString("url", command: command)
            let id = StoragePoolID.random()
            let descriptor = PoolDescriptor(id: id, name: name, url: url, capacityBytes: capacityBytes, capacityIOPS: capacityIOPS)
            let found = try await provider.initialize(descriptor)
            try await provider.attach(descriptor, to: clusterID.map(PoolAttachment.cluster) ?? .zone(zoneID))
            // A token in the URL is kept apart, sealed in the pool's details; the URL stored and
            // listed carries none.
            let (storedURL, token) = LunarStorageProvider.splitToken(url)
            var pool = StoragePool(
                id: id, name: name, zoneID: zoneID, podID: podID, clusterID: clusterID, scope: scope, url: storedURL, provider: provider.name,
                isManaged: provider.isManaged, capacityBytes: capacityBytes ?? found.totalBytes, capacityIOPS: capacityIOPS ?? found.totalIOPS,
                allocatedBytes: 0, allocatedIOPS: 0, tags: try StorageTags.parse(p["tags"]), hypervisor: hypervisor, state: .up,
                createdEpochSeconds: call.server.time.nowEpochSeconds()
            )
            pool.guaranteesMinimum = provider.qosEnforcement.guaranteesMinimum
            pool.strictQoS = try p.bool("strictqos") ?? false
            try await store.createStoragePool(pool, details: token.map { ["token": $0] } ?? [:])
            var names = NameCache(store: store)
            return .object(name: "storagepool", try await call.server.poolResponse(pool, names: &names))
        }
    )

    static let listStoragePools = APICommand(
        name: "listStoragePools",
        description: "Lists primary storage pools with their byte and IOPS accounting",
        access: .rootAdmin,
        parameters: [
            APIParameter("id", .uuid, "List by id"), APIParameter("zoneid", .uuid, "List by zone"),
            APIParameter("clusterid", .uuid, "List by cluster"), APIParameter("name", .string, "List by name"),
            APIParameter("scope", .string, "ZONE or CLUSTER"),
        ] + APIParameter.listing,
        responseName: "storagepool",
        responseFields: poolFields,
        execution: .sync { call in
            let p = call.parameters
            let page = try await call.server.store.storagePools(
                id: try p.id("id"), zoneID: try p.id("zoneid"), clusterID: try p.id("clusterid"), name: p["name"],
                scope: try p.choice("scope", as: StoragePool.Scope.self), keyword: p["keyword"], window: try p.window()
            )
            var names = NameCache(store: call.server.store)
            var items: [JSONObject] = []
            for pool in page.items { items.append(try await call.server.poolResponse(pool, names: &names)) }
            return .list(name: "storagepool", items: items, total: page.total)
        }
    )

    static let updateStoragePool = APICommand(
        name: "updateStoragePool",
        description: "Changes a pool's capacities, tags, or enables/disables it",
        access: .rootAdmin,
        parameters: [
            APIParameter("id", .uuid, required: true, "The pool"), APIParameter("capacitybytes", .long, "New capacity in bytes"),
            APIParameter("capacityiops", .long, "New IOPS capacity"), APIParameter("tags", .string, length: 4096, "New storage tags"),
            APIParameter("enabled", .boolean, "false disables placement on the pool"),
            APIParameter("strictqos", .boolean, "Lunar: refuse volumes with a minimum IOPS the storage cannot reserve"),
        ],
        responseName: "storagepool",
        responseFields: poolFields,
        execution: .sync { call in
            let p = call.parameters
            let pool = try await call.server.store.updateStoragePool(
                try p.requiredID("id", command: call.command.name), capacityBytes: try p.int64("capacitybytes"),
                capacityIOPS: try p.int64("capacityiops"), tags: try p["tags"].map { try StorageTags.parse($0) }, enabled: try p.bool("enabled"),
                strictQoS: try p.bool("strictqos")
            )
            var names = NameCache(store: call.server.store)
            return .object(name: "storagepool", try await call.server.poolResponse(pool, names: &names))
        }
    )

    static let deleteStoragePool = APICommand(
        name: "deleteStoragePool",
        description: "Deletes a pool; refused while volumes live there (forced=true also expunges volumes already being destroyed)",
        access: .rootAdmin,
        parameters: [APIParameter("id", .uuid, required: true, "The pool"), APIParameter("forced", .boolean, "Expunge destroyed volumes too")],
        responseFields: [APIResponseField("success", "boolean", "true when done")],
        execution: .sync { call in
            let p = call.parameters
            let store = call.server.store
            let id: StoragePoolID = try p.requiredID("id", command: call.command.name)
            guard let (pool, details) = try await store.poolDescriptor(id) else { throw LunarError.unknownID("storage pool", id.uuid) }
            let provider = try call.server.providers.require(pool.provider)
            let (blocking, destroyed) = try await store.poolOccupants(id)
            guard blocking.isEmpty else {
                throw LunarError.refused("Storage pool \(pool.name) still holds \(blocking.count) volume(s); delete or move them first")
            }
            if !destroyed.isEmpty {
                guard try p.bool("forced") == true else {
                    throw LunarError.refused("Storage pool \(pool.name) holds \(destroyed.count) volume(s) being destroyed; retry with forced=true to expunge them")
                }
                for volume in destroyed {
                    try await provider.deleteVolume(volume.descriptor, in: pool.descriptor(details: details))
                    try await store.finishDeleting(volume.id)
                }
            }
            // Template volumes are the pool's own; they go with it (made again on first use elsewhere).
            try await TemplateService(server: call.server).deleteCopies(on: pool, details: details)
            try await provider.delete(pool.descriptor(details: details))
            try await store.deleteStoragePool(id)
            return .success
        }
    )

    static func maintenanceCommand(entering: Bool) -> APICommand {
        APICommand(
            name: entering ? "enableStorageMaintenance" : "cancelStorageMaintenance",
            description: entering ? "Puts a pool in maintenance: nothing new is placed there" : "Takes a pool out of maintenance",
            access: .rootAdmin,
            parameters: [APIParameter("id", .uuid, required: true, "The pool")],
            responseName: "storagepool",
            responseFields: poolFields,
            execution: .async { call in
                let id: StoragePoolID = try call.parameters.requiredID("id", command: call.command.name)
                guard let pool = try await call.server.store.storagePool(id) else { throw LunarError.unknownID("storage pool", id.uuid) }
                let allowed: Set<StoragePool.State> = entering ? [.up, .disabled, .errorInMaintenance] : [.maintenance, .errorInMaintenance, .prepareForMaintenance]
                guard allowed.contains(pool.state) else {
                    throw LunarError.refused("pool \(pool.name) is \(pool.state.rawValue); that is not possible now")
                }
                return JobPlan(instanceType: "StoragePool", instanceID: id.uuid) { context in
                    try await runMaintenance(entering: entering, poolID: id, server: call.server, context: context)
                }
            },
            resume: { call, context in
                let id: StoragePoolID = try call.parameters.requiredID("id", command: call.command.name)
                return try await runMaintenance(entering: entering, poolID: id, server: call.server, context: context)
            }
        )
    }

    static func runMaintenance(entering: Bool, poolID: StoragePoolID, server: ServerContext, context: JobContext) async throws -> JSONObject {
        let store = server.store
        guard let (pool, details) = try await store.poolDescriptor(poolID) else { throw LunarError.unknownID("storage pool", poolID.uuid) }
        let provider = try server.providers.require(pool.provider)
        var updated: StoragePool
        if entering {
            _ = try await store.setStoragePoolState(poolID, to: .prepareForMaintenance, from: [.up, .disabled, .errorInMaintenance])
            do {
                try await context.step("provider enters maintenance") { try await provider.enterMaintenance(pool.descriptor(details: details)) }
            } catch {
                _ = try await store.setStoragePoolState(poolID, to: .errorInMaintenance, from: [.prepareForMaintenance])
                throw error
            }
            updated = try await store.setStoragePoolState(poolID, to: .maintenance, from: [.prepareForMaintenance])
        } else {
            try await context.step("provider leaves maintenance") { try await provider.cancelMaintenance(pool.descriptor(details: details)) }
            updated = try await store.setStoragePoolState(poolID, to: .up, from: [.maintenance, .errorInMaintenance, .prepareForMaintenance])
        }
        var names = NameCache(store: store)
        return JSONObject(["storagepool": .object(try await server.poolResponse(updated, names: &names))])
    }

    static let enableStorageMaintenance = maintenanceCommand(entering: true)
    static let cancelStorageMaintenance = maintenanceCommand(entering: false)

    static let listStorageProviders = APICommand(
        name: "listStorageProviders",
        description: "Lists the storage providers this server knows",
        access: .rootAdmin,
        parameters: [APIParameter("type", .string, required: true, "primary or image")] + APIParameter.listing,
        responseName: "dataStoreProvider",
        responseFields: [APIResponseField("name", "the provider name"), APIResponseField("type", "primary")],
        execution: .sync { call in
            let type = try call.parameters.requiredString("type", command: call.command.name).lowercased()
            guard type == "primary" || type == "image" else {
                throw LunarError.invalidParameter("type", value: type, reason: "expected primary or image")
            }
            let items = type == "primary" ? call.server.providers.all.map { JSONObject(["name": $0.name.json, "type": "primary"]) } : []
            return .list(name: "dataStoreProvider", items: items, total: items.count)
        }
    )
}
