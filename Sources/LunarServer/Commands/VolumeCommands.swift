import LunarModel
import LunarStorage

/// `createVolume`, `listVolumes`, `resizeVolume`, `deleteVolume`.
enum VolumeCommands {
    static let all: [APICommand] = [createVolume, listVolumes, resizeVolume, deleteVolume]

    static let gigabyte: Int64 = 1 << 30

    static let volumeFields = [
        APIResponseField("id", "the volume id"), APIResponseField("name", "the name"), APIResponseField("state", "Allocated, Creating, Ready, ..."),
        APIResponseField("type", "ROOT or DATADISK"), APIResponseField("size", "long", "size in bytes"),
        APIResponseField("miniops", "long", "guaranteed IOPS"), APIResponseField("maxiops", "long", "IOPS cap"),
        APIResponseField("diskofferingid", "the disk offering"), APIResponseField("storageid", "the pool, once placed"),
        APIResponseField("storage", "the pool's name"), APIResponseField("path", "where the provider put it"),
        APIResponseField("virtualmachineid", "the VM, when attached"),
    ]

    /// The volume named by `id`, if the caller may see it.
    static func ownedVolume(_ call: APICall, parameter: String = "id") async throws -> Volume {
        let id: VolumeID = try call.parameters.requiredID(parameter, command: call.command.name)
        guard let volume = try await call.server.store.volume(id), call.caller.owns(volume.accountID) else {
            throw LunarError.unknownID("volume", id.uuid)
        }
        return volume
    }

    /// A size in GiB from a parameter, in bytes.
    static func bytes(fromGB gigabytes: Int64, parameter: String) throws -> Int64 {
        guard (1...DiskOffering.maximumCustomSizeGB).contains(gigabytes) else {
            throw LunarError.invalidParameter(parameter, value: String(gigabytes), reason: "expected 1 to \(DiskOffering.maximumCustomSizeGB) GB")
        }
        return gigabytes * gigabyte
    }

    /// The IOPS a volume gets from its offering and the request: fixed on the offering, or given
    /// by the user when the offering says customizediops.
    static func iops(offering: DiskOffering, minIOPS: Int64?, maxIOPS: Int64?) throws -> (Int64?, Int64?) {
        if offering.isCustomizedIOPS {
            guard minIOPS != nil, maxIOPS != nil else {
                throw LunarError.refused("disk offering \(offering.name) has customizediops=true: give miniops and maxiops")
            }
            try QualityOfService.validate(minIOPS: minIOPS, maxIOPS: maxIOPS)
            return (minIOPS, maxIOPS)
        }
        if minIOPS != nil || maxIOPS != nil {
            throw LunarError.refused("disk offering \(offering.name) has fixed IOPS; miniops and maxiops can only be given with an offering that has customizediops=true")
        }
        return (offering.minIOPS, offering.maxIOPS)
    }

    static let createVolume = APICommand(
        name: "createVolume",
        description: "Creates a volume (async). It is Allocated, with no storage, until first used; an admin may place it at once with storageid",
        access: .anyUser,
        parameters: [
            APIParameter("name", .string, "The volume name"),
            APIParameter("zoneid", .uuid, required: true, "The zone"),
            APIParameter("diskofferingid", .uuid, required: true, "The disk offering"),
            APIParameter("size", .long, "Size in GB, for a customized offering"),
            APIParameter("miniops", .long, "Guaranteed IOPS, for an offering with customizediops"),
            APIParameter("maxiops", .long, "IOPS cap, for an offering with customizediops"),
            APIParameter("storageid", .uuid, "Admins: place the volume on this pool now"),
            APIParameter("displayvolume", .boolean, "Show the volume to the user"),
        ],
        responseName: "volume",
        responseFields: volumeFields,
        execution: .async { call in
            let p = call.parameters
            let store = call.server.store
            let command = call.command.name
            let zoneID: ZoneID = try p.requiredID("zoneid", command: command)
            guard try await store.zone(zoneID) != nil else { throw LunarError.unknownID("zone", zoneID.uuid, parameter: "zoneid") }
            let offeringID: DiskOfferingID = try p.requiredID("diskofferingid", command: command)
            guard let offering = try await store.diskOffering(offeringID) else {
                throw LunarError.unknownID("disk offering", offeringID.uuid, parameter: "diskofferingid")
            }
            let sizeBytes: Int64
            if offering.isCustomized {
                guard let size = try p.int64("size") else {
                    throw LunarError.refused("disk offering \(offering.name) is customized: give size (in GB)")
                }
                sizeBytes = try bytes(fromGB: size, parameter: "size")
            } else {
                if let size = try p.int64("size"), size != offering.diskSizeGB {
                    throw LunarError.refused("disk offering \(offering.name) has a fixed size of \(offering.diskSizeGB ?? 0) GB; size can only be given with a customized offering")
                }
                sizeBytes = (offering.diskSizeGB ?? 0) * gigabyte
            }
            let (minIOPS, maxIOPS) = try iops(offering: offering, minIOPS: try p.int64("miniops"), maxIOPS: try p.int64("maxiops"))
            let poolID: StoragePoolID? = try p.id("storageid")
            if poolID != nil, !call.caller.isRootAdmin {
                throw LunarError.invalidParameter("storageid", value: poolID!.uuid, reason: "only administrators choose the pool")
            }
            var generator = DeterministicGenerator()
            let volume = Volume(
                id: .random(), name: p["name"].flatMap { $0.isEmpty ? nil : $0 } ?? "DATA-\(String(Int64.random(in: 100_000...999_999, using: &generator)))",
                accountID: call.caller.account.id, zoneID: zoneID, diskOfferingID: offering.id, kind: .dataDisk, sizeBytes: sizeBytes,
                minIOPS: minIOPS, maxIOPS: maxIOPS, hypervisorSnapshotReservePercent: offering.hypervisorSnapshotReservePercent,
                state: .allocated, poolID: nil, path: nil, provisioningType: offering.provisioningType, rateLimits: offering.rateLimits,
                virtualMachineID: nil, deviceID: nil, createdEpochSeconds: call.server.time.nowEpochSeconds()
            )
            try await store.insertVolume(volume)
            let service = VolumeService(server: call.server)
            var placed: Volume?
            if let poolID {
                // Placed now, inside the request, so a pool without room refuses at once.
                do {
                    placed = try await service.place(volume, clusterID: nil, poolID: poolID).0
                } catch {
                    try await VolumeService.undo(error) { try await store.discardUnplacedVolume(volume.id) }
                }
            }
            let placedVolume = placed
            return JobPlan(instanceType: "Volume", instanceID: volume.id.uuid, createdID: volume.id.uuid) { context in
                let result = try await placedVolume.asyncMap { try await service.createStorage($0, context: context) } ?? volume
                var names = NameCache(store: store)
                return JSONObject(["volume": .object(try await call.server.volumeResponse(result, names: &names))])
            }
        },
        resume: { call, context in
            // Creating is idempotent: a volume left Creating gets its storage made (again).
            guard let job = try await call.server.store.job(context.jobID), let instance = job.instanceID, let id = VolumeID(instance),
                var volume = try await call.server.store.volume(id)
            else { throw LunarError(.internalError, "the volume of this job no longer exists") }
            if volume.state == .creating { volume = try await VolumeService(server: call.server).createStorage(volume, context: context) }
            var names = NameCache(store: call.server.store)
            return JSONObject(["volume": .object(try await call.server.volumeResponse(volume, names: &names))])
        }
    )

    static let listVolumes = APICommand(
        name: "listVolumes",
        description: "Lists volumes; a user sees only its own",
        access: .anyUser,
        parameters: [
            APIParameter("id", .uuid, "List by id"), APIParameter("name", .string, "List by name"),
            APIParameter("type", .string, "ROOT or DATADISK"), APIParameter("virtualmachineid", .uuid, "Volumes of a VM"),
            APIParameter("zoneid", .uuid, "List by zone"), APIParameter("storageid", .uuid, "List by pool"),
            APIParameter("state", .string, "List by state"),
        ] + APIParameter.listing,
        responseName: "volume",
        responseFields: volumeFields,
        execution: .sync { call in
            let p = call.parameters
            var filter = Store.VolumeFilter()
            filter.id = try p.id("id")
            filter.name = p["name"]
            filter.kind = try p.choice("type", as: Volume.Kind.self)
            filter.virtualMachineID = try p.id("virtualmachineid")
            filter.zoneID = try p.id("zoneid")
            filter.poolID = try p.id("storageid")
            filter.state = try p.choice("state", as: VolumeState.self)
            filter.keyword = p["keyword"]
            filter.accountID = try call.listedAccount()
            let page = try await call.server.store.volumes(filter, window: try p.window())
            var names = NameCache(store: call.server.store)
            var items: [JSONObject] = []
            for volume in page.items { items.append(try await call.server.volumeResponse(volume, names: &names)) }
            return .list(name: "volume", items: items, total: page.total)
        }
    )

    static let resizeVolume = APICommand(
        name: "resizeVolume",
        description: "Changes a volume's size and/or IOPS (async); on a placed volume the provider applies it, live on managed storage",
        access: .anyUser,
        parameters: [
            APIParameter("id", .uuid, required: true, "The volume"),
            APIParameter("size", .long, "New size in GB (customized offerings)"),
            APIParameter("miniops", .long, "New guaranteed IOPS (offerings with customizediops)"),
            APIParameter("maxiops", .long, "New IOPS cap (offerings with customizediops)"),
            APIParameter("diskofferingid", .uuid, "A new disk offering (its size and IOPS apply)"),
            APIParameter("shrinkok", .boolean, "Allow making the volume smaller"),
        ],
        responseName: "volume",
        responseFields: volumeFields,
        execution: .async { call in
            let p = call.parameters
            let store = call.server.store
            let volume = try await ownedVolume(call)
            guard volume.virtualMachineID == nil || volume.state == .ready else {
                throw LunarError.refused("the volume is \(volume.state.rawValue); it cannot be resized now")
            }
            var offering = try await volume.diskOfferingID.asyncMap { try await store.diskOffering($0, includingDeleted: true) } ?? nil
            var newOfferingID: DiskOfferingID?
            if let id = try p.id("diskofferingid", as: DiskOfferingID.self) {
                guard let replacement = try await store.diskOffering(id) else { throw LunarError.unknownID("disk offering", id.uuid, parameter: "diskofferingid") }
                offering = replacement
                newOfferingID = id
            }
            var sizeBytes = volume.sizeBytes
            if let size = try p.int64("size") {
                guard offering?.isCustomized ?? true else {
                    throw LunarError.refused("disk offering \(offering!.name) has a fixed size; give a customized diskofferingid to change the size")
                }
                sizeBytes = try bytes(fromGB: size, parameter: "size")
            } else if newOfferingID != nil, let fixed = offering?.diskSizeGB {
                sizeBytes = fixed * gigabyte
            }
            if sizeBytes < volume.sizeBytes, try p.bool("shrinkok") != true {
                throw LunarError.refused("the new size (\(sizeBytes) bytes) is smaller than the volume (\(volume.sizeBytes) bytes); pass shrinkok=true to shrink it")
            }
            var (minIOPS, maxIOPS) = (volume.minIOPS, volume.maxIOPS)
            let (askedMin, askedMax) = (try p.int64("miniops"), try p.int64("maxiops"))
            if let offering {
                if offering.isCustomizedIOPS {
                    (minIOPS, maxIOPS) = (askedMin ?? minIOPS, askedMax ?? maxIOPS)
                } else if askedMin != nil || askedMax != nil {
                    throw LunarError.refused("disk offering \(offering.name) has fixed IOPS; miniops and maxiops can only be given with an offering that has customizediops=true")
                } else if newOfferingID != nil {
                    (minIOPS, maxIOPS) = (offering.minIOPS, offering.maxIOPS)
                }
            } else {
                (minIOPS, maxIOPS) = (askedMin ?? minIOPS, askedMax ?? maxIOPS)
            }
            try QualityOfService.validate(minIOPS: minIOPS, maxIOPS: maxIOPS)
            let request = Store.ResizeRequest(
                sizeBytes: sizeBytes, minIOPS: minIOPS, maxIOPS: maxIOPS, diskOfferingID: newOfferingID, requiredTags: offering?.tags ?? []
            )
            let service = VolumeService(server: call.server)
            switch volume.state {
            case .allocated:
                return JobPlan(instanceType: "Volume", instanceID: volume.id.uuid) { _ in
                    let resized = try await store.resizeUnplaced(volume.id, request)
                    var names = NameCache(store: store)
                    return JSONObject(["volume": .object(try await call.server.volumeResponse(resized, names: &names))])
                }
            case .ready:
                // Reserved now, inside the request, so a pool without room refuses at once.
                let (_, after, _) = try await store.beginResizing(volume.id, request)
                return JobPlan(instanceType: "Volume", instanceID: volume.id.uuid) { context in
                    let resized = try await service.resizeStorage(after, context: context)
                    var names = NameCache(store: store)
                    return JSONObject(["volume": .object(try await call.server.volumeResponse(resized, names: &names))])
                }
            default:
                throw LunarError.refused("the volume is \(volume.state.rawValue); it cannot be resized now")
            }
        },
        resume: { call, context in
            let id: VolumeID = try call.parameters.requiredID("id", command: call.command.name)
            guard var volume = try await call.server.store.volume(id) else { throw LunarError.unknownID("volume", id.uuid) }
            if volume.state == .resizing { volume = try await VolumeService(server: call.server).resizeStorage(volume, context: context) }
            var names = NameCache(store: call.server.store)
            return JSONObject(["volume": .object(try await call.server.volumeResponse(volume, names: &names))])
        }
    )

    static let deleteVolume = APICommand(
        name: "deleteVolume",
        description: "Deletes a detached volume and, through its provider, its storage",
        access: .anyUser,
        parameters: [APIParameter("id", .uuid, required: true, "The volume")],
        responseFields: [APIResponseField("success", "boolean", "true when done")],
        execution: .sync { call in
            let volume = try await ownedVolume(call)
            try await VolumeService(server: call.server).delete(volume.id)
            return .success
        }
    )
}
