import LunarModel

/// Host maintenance: migrate every VM away, then hold the host out of placement.
enum HostCommands {
    static let all: [APICommand] = [prepareHostForMaintenance, cancelHostMaintenance]

    static func hostResult(_ id: HostID, server: ServerContext) async throws -> JSONObject {
        guard let host = try await server.store.host(id) else { throw LunarError.unknownID("host", id.uuid) }
        var names = NameCache(store: server.store)
        let response = host.response(zone: try await names.zone(host.zoneID), pod: try await names.pod(host.podID), cluster: try await names.cluster(host.clusterID))
        return JSONObject(["host": .object(response)])
    }

    static let prepareHostForMaintenance = APICommand(
        name: "prepareHostForMaintenance",
        description: "Live-migrates every VM off a host and puts it in Maintenance (async); ErrorInMaintenance when one cannot move",
        access: .rootAdmin,
        parameters: [APIParameter("id", .uuid, required: true, "The host")],
        responseName: "host",
        responseFields: [APIResponseField("id", "the host id"), APIResponseField("resourcestate", "Maintenance when done")],
        execution: .async { call in
            let id: HostID = try call.parameters.requiredID("id", command: call.command.name)
            guard let host = try await call.server.store.host(id) else { throw LunarError.unknownID("host", id.uuid) }
            guard [.enabled, .errorInMaintenance, .prepareForMaintenance].contains(host.resourceState) else {
                throw LunarError.refused("host \(host.name) is \(host.resourceState.rawValue)")
            }
            try await call.server.store.setHostResourceState(id, .prepareForMaintenance)
            return JobPlan(instanceType: "Host", instanceID: id.uuid) { context in try await evacuate(id, server: call.server, context: context) }
        },
        resume: { call, context in
            let id: HostID = try call.parameters.requiredID("id", command: call.command.name)
            return try await evacuate(id, server: call.server, context: context)
        }
    )

    static func evacuate(_ id: HostID, server: ServerContext, context: JobContext) async throws -> JSONObject {
        let service = VMService(server: server)
        var failures: [String] = []
        for vm in try await server.store.virtualMachines(on: id) where vm.hostID == id {
            do {
                try await server.vmLocks.withLock(vm.id) {
                    guard let current = try await server.store.virtualMachine(vm.id), current.hostID == id else { return }
                    let settled = try await VMRecovery(server: server).settle(current)
                    guard settled.state == .running else { return }
                    let destination = try await service.chooseHost(for: settled, requested: nil, excluding: [id])
                    _ = try await service.migrate(settled.id, to: destination.id, context: context)
                }
            } catch {
                failures.append("\(vm.name): \(error)")
            }
        }
        if failures.isEmpty {
            try await server.store.setHostResourceState(id, .maintenance)
            return try await hostResult(id, server: server)
        }
        try await server.store.setHostResourceState(id, .errorInMaintenance)
        throw LunarError(.internalError, "could not move every VM off the host: \(failures.joined(separator: "; "))")
    }

    static let cancelHostMaintenance = APICommand(
        name: "cancelHostMaintenance",
        description: "Lets a host take VMs again (async)",
        access: .rootAdmin,
        parameters: [APIParameter("id", .uuid, required: true, "The host")],
        responseName: "host",
        responseFields: [APIResponseField("id", "the host id"), APIResponseField("resourcestate", "Enabled")],
        execution: .async { call in
            let id: HostID = try call.parameters.requiredID("id", command: call.command.name)
            guard try await call.server.store.host(id) != nil else { throw LunarError.unknownID("host", id.uuid) }
            return JobPlan(instanceType: "Host", instanceID: id.uuid) { _ in
                try await call.server.store.setHostResourceState(id, .enabled)
                return try await hostResult(id, server: call.server)
            }
        }
    )
}
