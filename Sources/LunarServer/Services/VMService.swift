import Logging
import LunarModel
import LunarStorage
import LunarWire

/// The VM flows of DESIGN.md (5–7): placement on first use, grant before connect, revoke after
/// disconnect, every disk connected before start, prepare on the destination before migrate,
/// disconnect on the source after cut-over, and every step undone when a later one fails.
struct VMService: Sendable {
    let server: ServerContext

    /// Disk slots a VM has (the simulator's bus is virtio-scsi-like: 63 data disks).
    static let maximumDeviceID = 63

    var store: Store { server.store }
    var access: AccessService { AccessService(server: server) }
    var agents: AgentGateway { server.agents }

    // MARK: Start and stop

    /// Starts a Stopped VM on `requestedHost` (or the best Up host of its zone).
    func start(_ id: VirtualMachineID, on requestedHost: HostID?, context: JobContext?) async throws -> VirtualMachine {
        guard let vm = try await store.virtualMachine(id) else { throw LunarError.unknownID("virtual machine", id.uuid) }
        if vm.state == .running { return vm }
        let host = try await chooseHost(for: vm, requested: requestedHost)
        _ = try await store.updateVirtualMachine(id, from: [.stopped, .error], to: .starting, host: host.id)
        do {
            let volumes = try await placeAll(try await store.volumes(of: id), cluster: host.clusterID, context: context)
            let spec = try await step(context, "grant \(host.name)") {
                try await grantAll(volumes, vm: vm, to: host, reason: .start, jobID: context?.jobID)
            }
            do {
                _ = try await step(context, "StartVM on \(host.name)") { try await agents.call(.startVM(spec), on: host.id) }
            } catch {
                // The agent disconnects what it connected; a lost answer may hide a start, so stop it.
                _ = try? await agents.call(.stopVM(id), on: host.id)
                await revokeAll(volumes, from: host)
                throw error
            }
            do {
                return try await store.updateVirtualMachine(id, from: [.starting], to: .running, host: host.id)
            } catch {
                _ = try? await agents.call(.stopVM(id), on: host.id)
                await revokeAll(volumes, from: host)
                throw error
            }
        } catch {
            _ = try? await store.updateVirtualMachine(id, from: [.starting], to: .stopped, host: nil)
            throw Self.apiError(error)
        }
    }

    /// Stops a VM: the agent disconnects its disks, then the server revokes. `forced` goes on
    /// when the agent cannot be reached (its host is then fenced by the revokes).
    func stop(_ id: VirtualMachineID, forced: Bool, context: JobContext?) async throws -> VirtualMachine {
        guard let vm = try await store.virtualMachine(id) else { throw LunarError.unknownID("virtual machine", id.uuid) }
        if vm.state == .stopped { return vm }
        guard let hostID = vm.hostID, let host = try await store.host(hostID) else {
            return try await store.updateVirtualMachine(id, from: [.running, .error, .stopping, .starting], to: .stopped, host: nil)
        }
        _ = try await store.updateVirtualMachine(id, from: [.running, .error, .stopping], to: .stopping, host: hostID)
        do {
            _ = try await step(context, "StopVM on \(host.name)") { try await agents.call(.stopVM(id), on: hostID) }
        } catch let error as AgentCallError where forced || !error.isRefusal && host.state != .up {
            // The revokes below fence the host, so whatever it still runs can no longer write.
            server.logger.warning("stopping a VM whose host did not answer", metadata: ["vm.id": .string(id.uuid), "error": .string("\(error)")])
        } catch {
            let unknownOutcome = (error as? AgentCallError).map { !$0.isRefusal } ?? false
            if unknownOutcome, await !stillRuns(id, on: hostID) {
                // The answer was lost, not the stop: the host no longer runs the VM.
                server.logger.notice("a lost StopVM answer: the host no longer runs the VM", metadata: ["vm.id": .string(id.uuid)])
            } else {
                _ = try? await store.updateVirtualMachine(id, from: [.stopping], to: .running, host: hostID)
                throw Self.apiError(error)
            }
        }
        let fenced = try await step(context, "revoke \(host.name)") { await revokeAll(try await store.volumes(of: id), from: host) }
        guard fenced else {
            // Whatever the host still runs keeps its access: the VM stays Stopping, to be stopped again.
            throw LunarError(.internalError, "the storage did not take host \(host.name)'s access away; stop the VM again")
        }
        return try await store.updateVirtualMachine(id, from: [.stopping], to: .stopped, host: nil)
    }

    /// Whether the host's agent reports the VM as running; true when it cannot tell (no answer).
    func stillRuns(_ id: VirtualMachineID, on host: HostID) async -> Bool {
        guard let reports = try? await agents.call(.checkVMs, on: host) else { return true }
        return reports.vms.contains { $0.id == id }
    }

    // MARK: Attach and detach

    func attach(_ volumeID: VolumeID, to vmID: VirtualMachineID, deviceID requested: Int?, context: JobContext?) async throws -> Volume {
        guard let vm = try await store.virtualMachine(vmID) else { throw LunarError.unknownID("virtual machine", vmID.uuid) }
        guard var volume = try await store.volume(volumeID) else { throw LunarError.unknownID("volume", volumeID.uuid) }
        if volume.virtualMachineID == vmID { return volume }
        guard volume.virtualMachineID == nil else { throw LunarError(.resourceInUse, "volume \(volume.name) is attached to another VM") }
        guard volume.kind == .dataDisk, [.allocated, .ready].contains(volume.state) else {
            throw LunarError.refused("volume \(volume.name) is \(volume.state.rawValue) \(volume.kind.rawValue); only Allocated or Ready data disks attach")
        }
        guard volume.zoneID == vm.zoneID else { throw LunarError.refused("volume \(volume.name) is in another zone than the VM") }
        let attached = try await store.volumes(of: vmID)
        let deviceID = try requested ?? (1...VMService.maximumDeviceID).first { id in !attached.contains { $0.deviceID == id } }
            ?? { throw LunarError.refused("VM \(vm.name) has no free device slot") }()
        guard !attached.contains(where: { $0.deviceID == deviceID }) else { throw LunarError.refused("device \(deviceID) of VM \(vm.name) is taken") }
        guard [.stopped, .running].contains(vm.state) else { throw LunarError(.resourceInUse, "VM \(vm.name) is \(vm.state.rawValue)") }
        if vm.state == .running, let hostID = vm.hostID, let host = try await store.host(hostID) {
            volume = try await placeAll([volume], cluster: host.clusterID, context: context)[0]
            volume.virtualMachineID = vmID
            volume.deviceID = deviceID
            let spec = try await step(context, "grant \(host.name)") { try await grantAll([volume], vm: vm, to: host, reason: .attach, jobID: context?.jobID) }
            do {
                _ = try await step(context, "AttachVolume on \(host.name)") {
                    try await agents.call(.attachVolume(vm: vmID, disk: spec.disks[0]), on: hostID)
                }
            } catch {
                _ = try? await agents.call(.detachVolume(vm: vmID, volume: volumeID), on: hostID)
                await revokeAll([volume], from: host)
                throw Self.apiError(error)
            }
        }
        try await store.setVolumeAttachment(volumeID, vm: vmID, deviceID: deviceID)
        return try await store.volume(volumeID) ?? volume
    }

    func detach(_ volumeID: VolumeID, context: JobContext?) async throws -> Volume {
        guard let volume = try await store.volume(volumeID) else { throw LunarError.unknownID("volume", volumeID.uuid) }
        guard let vmID = volume.virtualMachineID else { return volume }
        guard volume.kind == .dataDisk else { throw LunarError.refused("the root disk cannot be detached") }
        guard let vm = try await store.virtualMachine(vmID) else { throw LunarError.unknownID("virtual machine", vmID.uuid) }
        guard [.stopped, .running].contains(vm.state) else { throw LunarError(.resourceInUse, "VM \(vm.name) is \(vm.state.rawValue)") }
        if vm.state == .running, let hostID = vm.hostID, let host = try await store.host(hostID) {
            do {
                _ = try await step(context, "DetachVolume on \(host.name)") { try await agents.call(.detachVolume(vm: vmID, volume: volumeID), on: hostID) }
            } catch let error as AgentCallError where error.isRefusal {
                throw Self.apiError(error)
            } catch {
                // Unreachable agent: the revoke fences it off the volume all the same.
                server.logger.warning("detaching from a host that did not answer", metadata: ["volume.id": .string(volumeID.uuid), "error": .string("\(error)")])
            }
            let fenced = try await step(context, "revoke \(host.name)") { await revokeAll([volume], from: host) }
            // Until the host is off the volume it stays attached, so nothing else can take it.
            guard fenced else { throw LunarError(.internalError, "the storage did not take host \(host.name)'s access away; detach again") }
        }
        try await store.setVolumeAttachment(volumeID, vm: nil, deviceID: nil)
        return try await store.volume(volumeID) ?? volume
    }

    // MARK: Live migration

    /// Moves a running VM to `destinationID`: grant the destination, prepare it, hand the VM over,
    /// disconnect and revoke the source. Any failure before the hand-over completes returns the VM
    /// to its source.
    func migrate(_ id: VirtualMachineID, to destinationID: HostID, context: JobContext?) async throws -> VirtualMachine {
        guard let vm = try await store.virtualMachine(id) else { throw LunarError.unknownID("virtual machine", id.uuid) }
        guard vm.state == .running, let sourceID = vm.hostID, let source = try await store.host(sourceID) else {
            throw LunarError(.resourceInUse, "VM \(vm.name) is \(vm.state.rawValue); only a running VM migrates")
        }
        guard sourceID != destinationID else { throw LunarError.refused("VM \(vm.name) already runs on that host") }
        guard let destination = try await store.host(destinationID) else { throw LunarError.unknownID("host", destinationID.uuid, parameter: "hostid") }
        guard destination.state == .up, destination.resourceState == .enabled, await agents.isConnected(destinationID) else {
            throw LunarError.refused("host \(destination.name) is \(destination.state.rawValue)/\(destination.resourceState.rawValue); it cannot take VMs")
        }
        guard destination.zoneID == vm.zoneID else { throw LunarError.refused("host \(destination.name) is in another zone") }
        _ = try await store.updateVirtualMachine(id, from: [.running], to: .migrating, host: sourceID, migrationHost: destinationID)
        let volumes = try await store.volumes(of: id)
        var handedOver: VMState?
        do {
            let spec = try await step(context, "grant \(destination.name)") {
                try await grantAll(volumes, vm: vm, to: destination, reason: .migration, jobID: context?.jobID)
            }
            _ = try await step(context, "PrepareForMigration on \(destination.name)") { try await agents.call(.prepareForMigration(spec), on: destinationID) }
            let moved = try await step(context, "MigrateVM on \(source.name)") {
                try await agents.call(.migrateVM(vm: id, destination: MigrationDestination(hostID: destinationID, hostName: destination.name)), on: sourceID)
            }
            guard let state = moved.migrationState else { throw LunarError(.internalError, "the source handed over no VM state") }
            handedOver = state
            _ = try await step(context, "resume on \(destination.name)") { try await agents.call(.resumeMigratedVM(vm: id, state: state), on: destinationID) }
        } catch {
            _ = try? await agents.call(.cancelMigration(id), on: destinationID)
            guard await revokeAll(volumes, from: destination) else {
                // The destination may still reach the disks: resuming the source could make two writers.
                _ = try? await store.updateVirtualMachine(id, from: [.migrating], to: .error, host: sourceID)
                throw LunarError(.internalError, "the migration failed and the storage did not take the destination's access away; the VM is in Error (stop it with forced=true)")
            }
            // A lost MigrateVM answer may hide a paused source: asking again is harmless (the
            // source answers with its state, paused or running) and resuming it is too.
            if handedOver == nil {
                handedOver = try? await agents.call(.migrateVM(vm: id, destination: MigrationDestination(hostID: destinationID, hostName: destination.name)), on: sourceID).migrationState
            }
            if let handedOver { _ = try? await agents.call(.resumeMigratedVM(vm: id, state: handedOver), on: sourceID) }
            _ = try? await store.updateVirtualMachine(id, from: [.migrating], to: .running, host: sourceID)
            throw Self.apiError(error)
        }
        // Cut over: the VM runs on the destination; the source only holds stopped disks now.
        let moved = try await store.updateVirtualMachine(id, from: [.migrating], to: .running, host: destinationID)
        do {
            _ = try await step(context, "disconnect \(source.name)") { try await agents.call(.stopVM(id), on: sourceID) }
        } catch {
            server.logger.warning("the migration source did not disconnect; fencing it off the disks", metadata: ["error": .string("\(error)")])
        }
        try await step(context, "revoke \(source.name)") { await revokeAll(volumes, from: source) }
        return moved
    }

    // MARK: Helpers

    /// The host to run `vm` on: the one asked for, else its last host, else the Up host running fewest VMs.
    func chooseHost(for vm: VirtualMachine, requested: HostID?, excluding: Set<HostID> = []) async throws -> LunarModel.Host {
        let connected = await agents.connectedHosts()
        let hosts = try await store.allHosts().filter { $0.zoneID == vm.zoneID }
        func usable(_ host: LunarModel.Host) -> Bool {
            host.state == .up && host.resourceState == .enabled && connected.contains(host.id) && !excluding.contains(host.id)
        }
        if let requested {
            guard let host = hosts.first(where: { $0.id == requested }) else { throw LunarError.unknownID("host", requested.uuid, parameter: "hostid") }
            guard usable(host) else { throw LunarError.refused("host \(host.name) is \(host.state.rawValue)/\(host.resourceState.rawValue); it cannot take VMs") }
            return host
        }
        let candidates = hosts.filter(usable)
        guard !candidates.isEmpty else {
            throw LunarError(.insufficientCapacity, "no Up host with a connected agent in the zone can run VM \(vm.name)")
        }
        if let last = vm.lastHostID, let host = candidates.first(where: { $0.id == last }) { return host }
        var load: [HostID: Int] = [:]
        for other in try await store.allVirtualMachines() { if let host = other.hostID { load[host, default: 0] += 1 } }
        return candidates.min { (load[$0.id] ?? 0, $0.name) < (load[$1.id] ?? 0, $1.name) }!
    }

    /// Places and creates the storage of every volume that has none yet (first use).
    func placeAll(_ volumes: [Volume], cluster: ClusterID, context: JobContext?) async throws -> [Volume] {
        let service = VolumeService(server: server)
        var placed: [Volume] = []
        for volume in volumes {
            switch volume.state {
            case .ready:
                placed.append(volume)
            case .allocated:
                let (reserved, _) = try await step(context, "place \(volume.name)") { try await service.place(volume, clusterID: cluster, poolID: nil) }
                placed.append(try await service.createStorage(reserved, context: context))
            case .creating:
                placed.append(try await service.createStorage(volume, context: context))
            default:
                throw LunarError(.resourceInUse, "volume \(volume.name) is \(volume.state.rawValue)")
            }
        }
        return placed
    }

    /// Grants `host` every volume and returns the spec its agent needs. Undoes its own grants on failure.
    func grantAll(_ volumes: [Volume], vm: VirtualMachine, to host: LunarModel.Host, reason: VolumeGrant.Reason, jobID: JobID?) async throws -> VMSpec {
        var disks: [DiskSpec] = []
        var granted: [Volume] = []
        let offering: ServiceOffering?
        do {
            offering = try await store.serviceOffering(vm.serviceOfferingID)
            for volume in volumes {
                let connection = try await access.grant(volume, to: host, reason: reason, jobID: jobID?.uuid)
                granted.append(volume)
                let (pool, _, _) = try await access.poolOf(volume)
                disks.append(DiskSpec(volumeID: volume.id, deviceID: volume.deviceID ?? 0, poolType: pool.provider, sizeBytes: volume.sizeBytes, connection: connection.wire))
            }
        } catch {
            await revokeAll(granted, from: host)
            throw error
        }
        return VMSpec(
            id: vm.id, name: vm.name, cpuCores: offering?.cpuNumber ?? 1, memoryMB: offering?.memoryMB ?? 512, disks: disks,
            workload: WorkloadSpec(mode: WorkloadSpec.Mode(rawValue: vm.workload) ?? .idle, queueDepth: vm.workload == "journal" ? 4 : 1)
        )
    }

    /// Revokes `host` from every volume that has storage, each tried three times.
    /// - Returns: whether every revoke took; callers that rely on the fence must check it.
    @discardableResult
    func revokeAll(_ volumes: [Volume], from host: LunarModel.Host) async -> Bool {
        var all = true
        for volume in volumes where volume.path != nil {
            var revoked = false
            for attempt in 1...3 where !revoked {
                do {
                    try await access.revoke(volume, from: host)
                    revoked = true
                } catch {
                    server.logger.error("could not revoke a host's access", metadata: ["volume.id": .string(volume.id.uuid), "host.id": .string(host.id.uuid), "attempt": .stringConvertible(attempt), "error": .string("\(error)")])
                    if attempt < 3 { try? await Task.sleep(for: .milliseconds(200 * attempt)) }
                }
            }
            all = all && revoked
        }
        return all
    }

    func step<T: Sendable>(_ context: JobContext?, _ name: String, _ body: () async throws -> T) async throws -> T {
        if let context { return try await context.step(name, body) }
        return try await body()
    }

    /// What an API caller sees of a failure.
    static func apiError(_ error: any Error) -> any Error {
        guard let agentError = error as? AgentCallError else { return error }
        return LunarError(.internalError, agentError.description)
    }
}

extension VolumeConnection {
    var wire: DiskConnection {
        switch self {
        case .iscsi(let portal, let iqn, let lun, let user, let secret): .iscsi(portal: portal, iqn: iqn, lun: lun, chapUser: user, chapSecret: secret)
        case .file(let path): .file(path: path)
        }
    }
}
