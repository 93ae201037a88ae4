import LunarModel
import LunarWire

/// CloudStack's VM commands over the simulator hypervisor: deploy, start, stop, reboot, destroy,
/// migrate, list; and attaching and detaching data disks. Everything that touches a host is an
/// async job whose steps are journaled.
enum VMCommands {
    static let all: [APICommand] = [
        deployVirtualMachine, startVirtualMachine, stopVirtualMachine, rebootVirtualMachine, destroyVirtualMachine, migrateVirtualMachine,
        listVirtualMachines, attachVolume, detachVolume,
    ]

    static let vmFields = [
        APIResponseField("id", "the VM id"), APIResponseField("name", "the VM name"), APIResponseField("state", "Running, Stopped, ..."),
        APIResponseField("hostid", "the host it runs on"), APIResponseField("hostname", "the host's name"),
        APIResponseField("serviceofferingid", "its service offering"), APIResponseField("templateid", "its template"),
        APIResponseField("zoneid", "its zone"), APIResponseField("haenable", "boolean", "restarted elsewhere when its host fails"),
        APIResponseField("nic", "list", "its NICs (none: Lunar has no networking)"),
    ]

    static func ownedVM(_ call: APICall, parameter: String = "id") async throws -> VirtualMachine {
        let id: VirtualMachineID = try call.parameters.requiredID(parameter, command: call.command.name)
        guard let vm = try await call.server.store.virtualMachine(id), call.caller.owns(vm.accountID) else {
            throw LunarError.unknownID("virtual machine", id.uuid, parameter: parameter)
        }
        return vm
    }

    static func vmResult(_ vm: VirtualMachine, server: ServerContext) async throws -> JSONObject {
        var names = NameCache(store: server.store)
        let fresh = try await server.store.virtualMachine(vm.id) ?? vm
        return JSONObject(["virtualmachine": .object(try await server.vmResponse(fresh, names: &names))])
    }

    static let deployVirtualMachine = APICommand(
        name: "deployVirtualMachine",
        description: "Creates a VM with a root disk (and a data disk from diskofferingid) and starts it (async)",
        access: .anyUser,
        parameters: [
            APIParameter("serviceofferingid", .uuid, required: true, "CPU, memory and the root disk's IOPS"),
            APIParameter("templateid", .uuid, required: true, "The template"), APIParameter("zoneid", .uuid, required: true, "The zone"),
            APIParameter("diskofferingid", .uuid, "A data disk from this offering"), APIParameter("size", .long, "The data disk's size in GB (customized offering)"),
            APIParameter("miniops", .long, "The data disk's guaranteed IOPS (customizediops offering)"),
            APIParameter("maxiops", .long, "The data disk's IOPS cap (customizediops offering)"),
            APIParameter("hostid", .uuid, "Admins: start on this host"), APIParameter("startvm", .boolean, "Start it (default true)"),
            APIParameter("name", .string, "The VM's name"), APIParameter("displayname", .string, "The name shown"),
            APIParameter("workload", .string, "Lunar's simulator: idle (default) or journal (numbered FUA writes on every disk)"),
            APIParameter("networkids", .string, "Ignored (no networking)"), APIParameter("keypair", .string, "Ignored"),
            APIParameter("userdata", .string, "Ignored"),
        ],
        responseName: "virtualmachine",
        responseFields: vmFields,
        execution: .async { call in
            let p = call.parameters
            let store = call.server.store
            let command = call.command.name
            let zoneID: ZoneID = try p.requiredID("zoneid", command: command)
            guard try await store.zone(zoneID) != nil else { throw LunarError.unknownID("zone", zoneID.uuid, parameter: "zoneid") }
            let offeringID: ServiceOfferingID = try p.requiredID("serviceofferingid", command: command)
            guard let offering = try await store.serviceOffering(offeringID) else {
                throw LunarError.unknownID("service offering", offeringID.uuid, parameter: "serviceofferingid")
            }
            let templateID: TemplateID = try p.requiredID("templateid", command: command)
            guard let template = try await store.template(templateID),
                template.isListed(under: .all, for: call.caller.account.id, isAdmin: call.caller.isRootAdmin)
            else { throw LunarError.unknownID("template", templateID.uuid, parameter: "templateid") }
            guard template.isReady else { throw LunarError.refused("template \(template.name) is not ready: \(template.status)") }
            if let zone = template.zoneID, zone != zoneID {
                throw LunarError.invalidParameter("templateid", value: templateID.uuid, reason: "template \(template.name) is registered in another zone")
            }
            let hostID: HostID? = try p.id("hostid")
            if hostID != nil, !call.caller.isRootAdmin { throw LunarError.invalidParameter("hostid", value: hostID!.uuid, reason: "only administrators choose the host") }
            let workload = p["workload"] ?? "idle"
            guard WorkloadSpec.Mode(rawValue: workload) != nil else { throw LunarError.invalidParameter("workload", value: workload, reason: "idle or journal") }
            let now = call.server.time.nowEpochSeconds()
            let vmID = VirtualMachineID.random()
            let suffix = String(vmID.uuid.prefix(8))
            let name = p["name"].flatMap { $0.isEmpty ? nil : $0 } ?? "VM-\(suffix)"
            let vm = VirtualMachine(
                id: vmID, name: name, displayName: p["displayname"] ?? name, accountID: call.caller.account.id, zoneID: zoneID,
                serviceOfferingID: offering.id, templateID: templateID, state: .stopped, hostID: nil, lastHostID: nil, migrationHostID: nil,
                haEnabled: offering.offerHA, workload: workload, createdEpochSeconds: now
            )
            let rootSize = offering.rootDiskSizeGB.map { $0 * VolumeCommands.gigabyte } ?? template.sizeBytes
            guard rootSize >= template.sizeBytes else {
                throw LunarError.invalidParameter(
                    "serviceofferingid", value: offering.id.uuid, reason: "its root disk (\(rootSize) bytes) is smaller than template \(template.name) (\(template.sizeBytes) bytes)"
                )
            }
            var volumes = [
                Volume(
                    id: .random(), name: "ROOT-\(suffix)", accountID: vm.accountID, zoneID: zoneID, diskOfferingID: nil, kind: .root, sizeBytes: rootSize,
                    minIOPS: offering.minIOPS, maxIOPS: offering.maxIOPS, hypervisorSnapshotReservePercent: offering.hypervisorSnapshotReservePercent,
                    state: .allocated, poolID: nil, path: nil, provisioningType: offering.provisioningType, rateLimits: offering.rateLimits,
                    virtualMachineID: vmID, deviceID: 0, createdEpochSeconds: now
                )
            ]
            if let diskOfferingID: DiskOfferingID = try p.id("diskofferingid") {
                guard let diskOffering = try await store.diskOffering(diskOfferingID) else {
                    throw LunarError.unknownID("disk offering", diskOfferingID.uuid, parameter: "diskofferingid")
                }
                let size: Int64
                if diskOffering.isCustomized {
                    guard let gigabytes = try p.int64("size") else { throw LunarError.refused("disk offering \(diskOffering.name) is customized: give size (in GB)") }
                    size = try VolumeCommands.bytes(fromGB: gigabytes, parameter: "size")
                } else {
                    size = (diskOffering.diskSizeGB ?? 0) * VolumeCommands.gigabyte
                }
                let (minIOPS, maxIOPS) = try VolumeCommands.iops(offering: diskOffering, minIOPS: try p.int64("miniops"), maxIOPS: try p.int64("maxiops"))
                volumes.append(
                    Volume(
                        id: .random(), name: "DATA-\(suffix)", accountID: vm.accountID, zoneID: zoneID, diskOfferingID: diskOffering.id, kind: .dataDisk,
                        sizeBytes: size, minIOPS: minIOPS, maxIOPS: maxIOPS, hypervisorSnapshotReservePercent: diskOffering.hypervisorSnapshotReservePercent,
                        state: .allocated, poolID: nil, path: nil, provisioningType: diskOffering.provisioningType, rateLimits: diskOffering.rateLimits,
                        virtualMachineID: vmID, deviceID: 1, createdEpochSeconds: now
                    )
                )
            }
            try await store.insertVirtualMachine(vm, volumes: volumes)
            let start = try p.bool("startvm") ?? true
            return JobPlan(instanceType: "VirtualMachine", instanceID: vmID.uuid, createdID: vmID.uuid) { context in
                try await call.server.vmLocks.withLock(vmID) {
                    let result = start ? try await VMService(server: call.server).start(vmID, on: hostID, context: context) : vm
                    return try await vmResult(result, server: call.server)
                }
            }
        },
        resume: FlowRecovery.resume(.start)
    )

    static let startVirtualMachine = APICommand(
        name: "startVirtualMachine",
        description: "Starts a stopped VM (async): grants its host every disk, connects them, starts it",
        access: .anyUser,
        parameters: [APIParameter("id", .uuid, required: true, "The VM"), APIParameter("hostid", .uuid, "Admins: the host")],
        responseName: "virtualmachine",
        responseFields: vmFields,
        execution: .async { call in
            let vm = try await ownedVM(call)
            let hostID: HostID? = try call.parameters.id("hostid")
            if hostID != nil, !call.caller.isRootAdmin { throw LunarError.invalidParameter("hostid", value: hostID!.uuid, reason: "only administrators choose the host") }
            return JobPlan(instanceType: "VirtualMachine", instanceID: vm.id.uuid) { context in
                try await call.server.vmLocks.withLock(vm.id) {
                    try await vmResult(try await VMService(server: call.server).start(vm.id, on: hostID, context: context), server: call.server)
                }
            }
        },
        resume: FlowRecovery.resume(.start)
    )

    static let stopVirtualMachine = APICommand(
        name: "stopVirtualMachine",
        description: "Stops a VM (async): its host disconnects every disk, then the server revokes the host's access",
        access: .anyUser,
        parameters: [APIParameter("id", .uuid, required: true, "The VM"), APIParameter("forced", .boolean, "Stop even if the host does not answer")],
        responseName: "virtualmachine",
        responseFields: vmFields,
        execution: .async { call in
            let vm = try await ownedVM(call)
            let forced = try call.parameters.bool("forced") ?? false
            return JobPlan(instanceType: "VirtualMachine", instanceID: vm.id.uuid) { context in
                try await call.server.vmLocks.withLock(vm.id) {
                    try await vmResult(try await VMService(server: call.server).stop(vm.id, forced: forced, context: context), server: call.server)
                }
            }
        },
        resume: FlowRecovery.resume(.stop)
    )

    static let rebootVirtualMachine = APICommand(
        name: "rebootVirtualMachine",
        description: "Reboots a running VM on its host (async)",
        access: .anyUser,
        parameters: [APIParameter("id", .uuid, required: true, "The VM")],
        responseName: "virtualmachine",
        responseFields: vmFields,
        execution: .async { call in
            let vm = try await ownedVM(call)
            guard vm.state == .running, let host = vm.hostID else { throw LunarError(.resourceInUse, "VM \(vm.name) is \(vm.state.rawValue); only a running VM reboots") }
            return JobPlan(instanceType: "VirtualMachine", instanceID: vm.id.uuid) { context in
                try await call.server.vmLocks.withLock(vm.id) {
                    let service = VMService(server: call.server)
                    _ = try await service.stop(vm.id, forced: false, context: context)
                    return try await vmResult(try await service.start(vm.id, on: host, context: context), server: call.server)
                }
            }
        },
        resume: FlowRecovery.resume(.start)
    )

    static let destroyVirtualMachine = APICommand(
        name: "destroyVirtualMachine",
        description: "Stops a VM, deletes its root disk, detaches its data disks and removes it (async)",
        access: .anyUser,
        parameters: [APIParameter("id", .uuid, required: true, "The VM"), APIParameter("expunge", .boolean, "Accepted; Lunar always expunges")],
        responseName: "virtualmachine",
        responseFields: vmFields,
        execution: .async { call in
            let vm = try await ownedVM(call)
            return JobPlan(instanceType: "VirtualMachine", instanceID: vm.id.uuid) { context in
                try await call.server.vmLocks.withLock(vm.id) { try await destroy(vm.id, server: call.server, context: context) }
            }
        },
        resume: FlowRecovery.resume(.destroy)
    )

    static func destroy(_ id: VirtualMachineID, server: ServerContext, context: JobContext) async throws -> JSONObject {
        guard let vm = try await server.store.virtualMachine(id) else { return JSONObject([:]) }
        let stopped = try await VMService(server: server).stop(id, forced: true, context: context)
        var response = try await vmResult(stopped, server: server)
        for volume in try await server.store.volumes(of: id) {
            try await server.store.setVolumeAttachment(volume.id, vm: nil, deviceID: nil)
            guard volume.kind == .root else { continue }
            try await context.step("delete \(volume.name)") { try await VolumeService(server: server).delete(volume.id) }
        }
        try await server.store.removeVirtualMachine(vm.id)
        if case .object(var object)? = response["virtualmachine"] {
            object["state"] = "Destroyed"
            object["hostid"] = nil
            response["virtualmachine"] = .object(object)
        }
        return response
    }

    static let migrateVirtualMachine = APICommand(
        name: "migrateVirtualMachine",
        description: "Live-migrates a running VM to another host (async); any failure leaves it on its source",
        access: .rootAdmin,
        parameters: [
            APIParameter("virtualmachineid", .uuid, required: true, "The VM"), APIParameter("hostid", .uuid, "The destination (best other host when absent)"),
        ],
        responseName: "virtualmachine",
        responseFields: vmFields,
        execution: .async { call in
            let vm = try await ownedVM(call, parameter: "virtualmachineid")
            let requested: HostID? = try call.parameters.id("hostid")
            return JobPlan(instanceType: "VirtualMachine", instanceID: vm.id.uuid) { context in
                try await call.server.vmLocks.withLock(vm.id) {
                let service = VMService(server: call.server)
                var destination = requested
                if destination == nil { destination = try await service.chooseHost(for: vm, requested: nil, excluding: Set([vm.hostID].compactMap { $0 })).id }
                guard let destination else { throw LunarError(.internalError, "no destination") }
                return try await vmResult(try await service.migrate(vm.id, to: destination, context: context), server: call.server)
                }
            }
        },
        resume: FlowRecovery.resume(.keepRunning)
    )

    static let listVirtualMachines = APICommand(
        name: "listVirtualMachines",
        description: "Lists VMs; a user sees only its own",
        access: .anyUser,
        parameters: [
            APIParameter("id", .uuid, "List by id"), APIParameter("name", .string, "List by name"), APIParameter("state", .string, "List by state"),
            APIParameter("hostid", .uuid, "Admins: VMs on a host"), APIParameter("zoneid", .uuid, "List by zone"),
            APIParameter("details", .string, "Accepted (all details are returned)"),
        ] + APIParameter.listing,
        responseName: "virtualmachine",
        responseFields: vmFields,
        execution: .sync { call in
            let p = call.parameters
            var filter = Store.VirtualMachineFilter()
            filter.id = try p.id("id")
            filter.name = p["name"]
            filter.state = try p.choice("state", as: VirtualMachine.State.self)
            filter.hostID = try p.id("hostid")
            filter.zoneID = try p.id("zoneid")
            filter.keyword = p["keyword"]
            filter.accountID = try call.listedAccount()
            let page = try await call.server.store.virtualMachines(filter, window: try p.window())
            var names = NameCache(store: call.server.store)
            var items: [JSONObject] = []
            for vm in page.items { items.append(try await call.server.vmResponse(vm, names: &names)) }
            return .list(name: "virtualmachine", items: items, total: page.total)
        }
    )

    static let attachVolume = APICommand(
        name: "attachVolume",
        description: "Attaches a data disk to a VM (async); on a running VM: grant, connect on its host, attach",
        access: .anyUser,
        parameters: [
            APIParameter("id", .uuid, required: true, "The volume"), APIParameter("virtualmachineid", .uuid, required: true, "The VM"),
            APIParameter("deviceid", .long, "The disk slot (1-63)"),
        ],
        responseName: "volume",
        responseFields: VolumeCommands.volumeFields,
        execution: .async { call in
            let volume = try await VolumeCommands.ownedVolume(call)
            let vm = try await ownedVM(call, parameter: "virtualmachineid")
            let deviceID = try call.parameters.int("deviceid")
            if let deviceID, !(1...VMService.maximumDeviceID).contains(deviceID) {
                throw LunarError.invalidParameter("deviceid", value: "\(deviceID)", reason: "must be 1 to \(VMService.maximumDeviceID)")
            }
            return JobPlan(instanceType: "Volume", instanceID: volume.id.uuid) { context in
                let attached = try await call.server.volumeLocks.withLock(volume.id) {
                    try await call.server.vmLocks.withLock(vm.id) {
                        try await VMService(server: call.server).attach(volume.id, to: vm.id, deviceID: deviceID, context: context)
                    }
                }
                var names = NameCache(store: call.server.store)
                return JSONObject(["volume": .object(try await call.server.volumeResponse(attached, names: &names))])
            }
        },
        resume: FlowRecovery.resume(.attach)
    )

    static let detachVolume = APICommand(
        name: "detachVolume",
        description: "Detaches a data disk (async); on a running VM: detach and disconnect on its host, then revoke",
        access: .anyUser,
        parameters: [APIParameter("id", .uuid, required: true, "The volume")],
        responseName: "volume",
        responseFields: VolumeCommands.volumeFields,
        execution: .async { call in
            let volume = try await VolumeCommands.ownedVolume(call)
            return JobPlan(instanceType: "Volume", instanceID: volume.id.uuid) { context in
                let detached = try await lockedDetach(volume.id, server: call.server, context: context)
                var names = NameCache(store: call.server.store)
                return JSONObject(["volume": .object(try await call.server.volumeResponse(detached, names: &names))])
            }
        },
        resume: FlowRecovery.resume(.detach)
    )

    /// Detaches holding the volume's turn, then the turn of the VM it is attached to *now* (read
    /// under the volume's lock, so it cannot change underneath).
    static func lockedDetach(_ volumeID: VolumeID, server: ServerContext, context: JobContext) async throws -> Volume {
        try await server.volumeLocks.withLock(volumeID) {
            let detach: @Sendable () async throws -> Volume = { try await VMService(server: server).detach(volumeID, context: context) }
            guard let vmID = try await server.store.volume(volumeID)?.virtualMachineID else { return try await detach() }
            return try await server.vmLocks.withLock(vmID, detach)
        }
    }
}
