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

    /// Starts a Stopped VM on `requestedHost` (or the best Up host of its zone): every disk
    /// placed and granted, then the agent connects them all and starts it. Any failure is undone
    /// (the host stopped and fenced) before the error is returned.
    func start(_ id: VirtualMachineID, on requestedHost: HostID?, context: JobContext?) async throws -> VirtualMachine {
        guard let vm = try await store.virtualMachine(id) else { throw LunarError.unknownID("virtual machine", id.uuid) }
        if vm.state == .running { return vm }
        let host = try await chooseHost(for: vm, requested: requestedHost)
        return try await start(vm, on: host, event: .startRequested(host: host.id), context: context)
    }

    /// The start flow from `event` (a start, or HA's restart in place).
    func start(_ vm: VirtualMachine, on host: LunarModel.Host, event: VMEvent, context: JobContext?) async throws -> VirtualMachine {
        let id = vm.id
        _ = try await store.transitionVirtualMachine(id, event)
        var flow = FlowSteps(context: context, service: self)
        do {
            if case .restartRequested = event {
                // Restarted in place, the host holds its grants already: whatever fails, fence them.
                try await flow.keep(undo: fenceStep(try await store.volumes(of: id), host))
            }
            let volumes = try await placeAll(try await store.volumes(of: id), cluster: host.clusterID, context: context)
            let spec = try await flow.step("grant \(host.name)", undo: fenceStep(volumes, host), uncertain: true) {
                try await grantAll(volumes, vm: vm, to: host, reason: .start, jobID: context?.jobID)
            }
            // A lost answer may hide a start: the undo stops it whatever the answer was.
            _ = try await flow.step("StartVM on \(host.name)", undo: agentStep("StopVM on \(host.name)", .stopVM(id), host), uncertain: true) {
                try await agents.call(.startVM(spec), on: host.id)
            }
            return try await store.transitionVirtualMachine(id, .started)
        } catch {
            try await undo(&flow, vm: id, failure: error, event: .startRolledBack, fenced: [host.id])
        }
    }

    /// Stops a VM: the agent disconnects its disks, then the server fences the host. `forced` goes
    /// on when the agent cannot be reached (the fence is what stops the host writing). A VM in
    /// Error is stopped by fencing every host it may still hold.
    func stop(_ id: VirtualMachineID, forced: Bool, context: JobContext?) async throws -> VirtualMachine {
        guard let vm = try await store.virtualMachine(id) else { throw LunarError.unknownID("virtual machine", id.uuid) }
        if vm.state == .stopped { return vm }
        let stopping = try await store.transitionVirtualMachine(id, .stopRequested)
        var hosts: [LunarModel.Host] = []
        for hostID in VMPosition(state: stopping.state, host: stopping.hostID, migrationHost: stopping.migrationHostID).hosts.sorted() {
            if let host = try await store.host(hostID) { hosts.append(host) }
        }
        if let hostID = stopping.hostID, let host = hosts.first(where: { $0.id == hostID }) {
            do {
                _ = try await step(context, "StopVM on \(host.name)") { try await agents.call(.stopVM(id), on: hostID) }
            } catch let error as AgentCallError where forced || !error.isRefusal && host.state != .up {
                // The fence below stops whatever the host still runs from writing.
                server.logger.warning("stopping a VM whose host did not answer", metadata: ["vm.id": .string(id.uuid), "error": .string("\(error)")])
            } catch {
                let unknownOutcome = (error as? AgentCallError).map { !$0.isRefusal } ?? false
                if unknownOutcome, try await stillRuns(id, on: hostID) == false {
                    // The answer was lost, not the stop: the host no longer runs the VM.
                    server.logger.notice("a lost StopVM answer: the host no longer runs the VM", metadata: ["vm.id": .string(id.uuid)])
                } else {
                    _ = try await store.transitionVirtualMachine(id, vm.state == .error ? .fenceFailed : .stopRefused)
                    throw Self.apiError(error)
                }
            }
        }
        let volumes = try await store.volumes(of: id)
        do {
            for host in hosts { try await step(context, "fence \(host.name)") { try await fence(volumes, from: host) } }
        } catch {
            // Whatever the host still runs may keep its access: the VM says so (Error) until fenced.
            _ = try await store.transitionVirtualMachine(id, .fenceFailed)
            throw FenceError.wrap(error).apiError("the VM is in Error until its host is fenced; stop it again")
        }
        return try await store.transitionVirtualMachine(id, .stopped, fenced: Set(hosts.map(\.id)))
    }

    /// Whether the host's agent reports the VM running (not merely there, paused): nil when the
    /// agent does not answer.
    func runs(_ id: VirtualMachineID, on host: HostID) async throws -> Bool? {
        do {
            return try await agents.call(.checkVMs, on: host).vms.contains { $0.id == id && $0.state == .running }
        } catch let error as AgentCallError where !error.isRefusal {
            return nil
        }
    }

    /// Whether the host's agent reports the VM running: nil when the agent does not answer.
    func stillRuns(_ id: VirtualMachineID, on host: HostID) async throws -> Bool? {
        do {
            return try await agents.call(.checkVMs, on: host).vms.contains { $0.id == id }
        } catch let error as AgentCallError where !error.isRefusal {
            return nil
        }
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
        // A host whose access a failed fence left behind must lose it before anyone else gains it.
        if let stale = try await store.grants(volume: volumeID).first(where: { $0.hostID != vm.hostID }) {
            throw LunarError(.resourceInUse, "volume \(volume.name) is still reachable from host \(stale.hostID.uuid) until its access is taken away; try again shortly")
        }
        if vm.state == .running, let hostID = vm.hostID, let host = try await store.host(hostID) {
            volume = try await placeAll([volume], cluster: host.clusterID, context: context)[0]
            volume.virtualMachineID = vmID
            volume.deviceID = deviceID
            var flow = FlowSteps(context: context, service: self)
            do {
                let spec = try await flow.step("grant \(host.name)", undo: fenceStep([volume], host), uncertain: true) {
                    try await grantAll([volume], vm: vm, to: host, reason: .attach, jobID: context?.jobID)
                }
                _ = try await flow.step(
                    "AttachVolume on \(host.name)", undo: agentStep("DetachVolume on \(host.name)", .detachVolume(vm: vmID, volume: volumeID), host), uncertain: true
                ) {
                    try await agents.call(.attachVolume(vm: vmID, disk: spec.disks[0]), on: hostID)
                }
            } catch {
                do {
                    try await flow.rollback()
                } catch let failure as FenceError {
                    // The volume is not attached, but the host may reach it: its grant record stays
                    // and the reconciler (or the next attach) finishes the fence.
                    throw failure.apiError("the attach failed (\(Self.apiError(error))) and its grant stays recorded until the storage answers")
                }
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
            var detachedByHost = false
            do {
                _ = try await step(context, "DetachVolume on \(host.name)") { try await agents.call(.detachVolume(vm: vmID, volume: volumeID), on: hostID) }
                detachedByHost = true
            } catch let error as AgentCallError where error.isRefusal {
                throw Self.apiError(error)
            } catch {
                // Unreachable agent or a lost answer (the outcome is unknown): the fence takes the
                // volume from it all the same, and the heartbeat sweep detaches what is left.
                server.logger.warning("detaching from a host that did not answer", metadata: ["volume.id": .string(volumeID.uuid), "error": .string("\(error)")])
            }
            do {
                try await step(context, "fence \(host.name)") { try await fence([volume], from: host) }
            } catch {
                guard detachedByHost else {
                    // The VM may still use it: it stays attached, so nothing else can take it.
                    throw FenceError.wrap(error).apiError("the volume stays attached; detach it again")
                }
                // The VM no longer uses it; the host's grant stays recorded until the storage
                // answers (the HA monitor fences it then), and no other host may attach it before.
                server.logger.error(
                    "detached, but the host's access could not be taken away yet; retried in the background",
                    metadata: ["volume.id": .string(volumeID.uuid), "host.id": .string(hostID.uuid), "error": .string("\(error)")]
                )
            }
        }
        try await store.setVolumeAttachment(volumeID, vm: nil, deviceID: nil)
        return try await store.volume(volumeID) ?? volume
    }

    // MARK: Live migration

    /// Moves a running VM to `destinationID`: grant the destination, prepare it, hand the VM over,
    /// disconnect and fence the source. Any failure before the hand-over completes returns the VM
    /// to its source, after the destination is fenced.
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
        guard destination.hypervisor == source.hypervisor else {
            throw LunarError.refused("host \(destination.name) runs \(destination.hypervisor.rawValue) and \(source.name) \(source.hypervisor.rawValue): a VM migrates only between hosts of one hypervisor")
        }
        _ = try await store.transitionVirtualMachine(id, .migrationRequested(destination: destinationID))
        let volumes = try await store.volumes(of: id)
        let target = MigrationDestination(hostID: destinationID, hostName: destination.name)
        var flow = FlowSteps(context: context, service: self)
        do {
            let spec = try await flow.step("grant \(destination.name)", undo: fenceStep(volumes, destination), uncertain: true) {
                try await grantAll(volumes, vm: vm, to: destination, reason: .migration, jobID: context?.jobID)
            }
            let prepared = try await flow.step(
                "PrepareForMigration on \(destination.name)", undo: agentStep("CancelMigration on \(destination.name)", .cancelMigration(id), destination), uncertain: true
            ) {
                try await agents.call(.prepareForMigration(spec), on: destinationID)
            }
            // QEMU's receiver listens on a port it chose; the simulator's needs none.
            var target = target
            target.uri = prepared.incomingURI
            // Undoing the hand-over: the destination is stopped and fenced before the source
            // resumes, so the two never write at once.
            let resumeSource = FlowUndo.resumeSource(vm: id, source: sourceID, destination: destinationID, volumes: volumes.map(\.id))
            let moved = try await flow.step("MigrateVM on \(source.name)", undo: ("resume on \(source.name)", resumeSource), uncertain: true) {
                try await agents.call(.migrateVM(vm: id, destination: target), on: sourceID)
            }
            guard let state = moved.migrationState else { throw LunarError(.internalError, "the source handed over no VM state") }
            if let statistics = moved.migration {
                server.logger.info(
                    "live migration", metadata: ["vm.id": .string(id.uuid), "migration.total_ms": .stringConvertible(statistics.totalMilliseconds), "migration.downtime_ms": .stringConvertible(statistics.downtimeMilliseconds)]
                )
                // In the job's result as `migration` (Lunar's), and in the journal.
                try await context?.record(
                    "migration",
                    JSONObject([
                        "totalms": .integer(statistics.totalMilliseconds), "downtimems": .integer(statistics.downtimeMilliseconds),
                        "transferredbytes": .integer(statistics.transferredBytes),
                    ])
                )
            }
            do {
                _ = try await flow.step("resume on \(destination.name)") { try await agents.call(.resumeMigratedVM(vm: id, state: state), on: destinationID) }
            } catch {
                // A lost answer may hide a destination that runs (and writes): the source must
                // never resume then. Ask; if it runs, cut over (a receiver still paused has not
                // run: the hand-over is undone); if nobody can tell, fence both.
                switch try await runs(id, on: destinationID) {
                case true?:
                    server.logger.notice("the destination runs the VM although its answer was lost: cutting over", metadata: ["vm.id": .string(id.uuid)])
                case false?:
                    throw error
                case nil:
                    try await lose(id)
                    throw Settled(error: LunarError(.internalError, "\(Self.apiError(error)); the destination cannot tell whether it runs the VM, so both hosts were fenced and the VM is Stopped"))
                }
            }
        } catch let settled as Settled {
            throw settled.error
        } catch {
            try await undo(&flow, vm: id, failure: error, event: .migrationRolledBack, fenced: [destinationID])
        }
        // Cut over: the VM runs on the destination; the source disconnects and is fenced before
        // the database says so.
        do {
            _ = try await step(context, "disconnect \(source.name)") { try await agents.call(.stopVM(id), on: sourceID) }
        } catch {
            server.logger.warning("the migration source did not disconnect; fencing it off the disks", metadata: ["error": .string("\(error)")])
        }
        do {
            try await step(context, "fence \(source.name)") { try await fence(volumes, from: source) }
        } catch {
            _ = try await store.transitionVirtualMachine(id, .cutOverFenceFailed)
            throw FenceError.wrap(error).apiError("the VM runs on \(destination.name) but is in Error until \(source.name) is fenced")
        }
        return try await store.transitionVirtualMachine(id, .migrationCompleted, fenced: [sourceID])
    }

    /// A failure already settled (hosts fenced, state recorded): thrown past the flow's undo.
    struct Settled: Error {
        let error: LunarError
    }

    /// Undoes a failed flow on `vm` and records how it ended: `event` once every undo took, Error
    /// when a fence did not (the hosts it holds stay recorded, to be fenced again). Always throws.
    func undo(_ flow: inout FlowSteps, vm id: VirtualMachineID, failure: any Error, event: VMEvent, fenced: Set<HostID>) async throws -> Never {
        do {
            try await flow.rollback()
        } catch let fence as FenceError {
            _ = try await store.transitionVirtualMachine(id, .fenceFailed)
            throw fence.apiError("after \(Self.apiError(failure)); the VM is in Error until the host is fenced (stop it with forced=true)")
        } catch {
            // The source no longer holds the VM (a rollback of a migration found nothing to resume):
            // every host is fenced and the VM is Stopped, not shown running anywhere.
            server.logger.error("a flow could not be undone; fencing every host of the VM", metadata: ["vm.id": .string(id.uuid), "error": .string("\(error)")])
            try await lose(id)
            throw LunarError(.internalError, "\(Self.apiError(failure)); undoing it failed (\(error)), so the VM was stopped and fenced")
        }
        _ = try await store.transitionVirtualMachine(id, event, fenced: fenced)
        throw Self.apiError(failure)
    }

    /// Fences every host the VM may be on and records it Stopped (lost). A fence that fails puts
    /// it in Error instead.
    func lose(_ id: VirtualMachineID) async throws {
        guard let vm = try await store.virtualMachine(id) else { return }
        let volumes = try await store.volumes(of: id)
        var fenced: Set<HostID> = []
        do {
            for hostID in VMPosition(state: vm.state, host: vm.hostID, migrationHost: vm.migrationHostID).hosts {
                guard let host = try await store.host(hostID) else { continue }
                try await fence(volumes, from: host)
                fenced.insert(hostID)
            }
        } catch let failure as FenceError {
            _ = try await store.transitionVirtualMachine(id, .fenceFailed)
            throw failure.apiError("the VM is in Error until its hosts are fenced")
        }
        _ = try await store.transitionVirtualMachine(id, .lost, fenced: fenced)
    }

    // MARK: Helpers

    /// The host to run `vm` on: the one asked for, else its last host, else the Up host running fewest VMs.
    func chooseHost(for vm: VirtualMachine, requested: HostID?, excluding: Set<HostID> = []) async throws -> LunarModel.Host {
        let connected = await agents.connectedHosts()
        let hosts = try await store.allHosts().filter { $0.zoneID == vm.zoneID }
        // A template is made for one hypervisor (a deleted one's VM keeps running anywhere).
        let hypervisor = try await store.template(vm.templateID)?.hypervisor
        func usable(_ host: LunarModel.Host) -> Bool {
            host.state == .up && host.resourceState == .enabled && connected.contains(host.id) && !excluding.contains(host.id)
        }
        if let requested {
            guard let host = hosts.first(where: { $0.id == requested }) else { throw LunarError.unknownID("host", requested.uuid, parameter: "hostid") }
            guard usable(host) else { throw LunarError.refused("host \(host.name) is \(host.state.rawValue)/\(host.resourceState.rawValue); it cannot take VMs") }
            if let hypervisor, host.hypervisor != hypervisor {
                throw LunarError.refused("host \(host.name) runs \(host.hypervisor.rawValue); VM \(vm.name)'s template is for \(hypervisor.rawValue)")
            }
            return host
        }
        let candidates = hosts.filter { usable($0) && (hypervisor == nil || $0.hypervisor == hypervisor) }
        guard !candidates.isEmpty else {
            let kind = hypervisor.map { " \($0.rawValue)" } ?? ""
            throw LunarError(.insufficientCapacity, "no Up\(kind) host with a connected agent in the zone can run VM \(vm.name)")
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
                do {
                    let (reserved, _) = try await step(context, "place \(volume.name)") { try await service.place(volume, clusterID: cluster, poolID: nil) }
                    placed.append(try await service.createStorage(reserved, context: context))
                } catch {
                    // A placement recorded but never created gives its capacity back.
                    if try await store.volume(volume.id)?.state == .creating {
                        try await VolumeService.undo(error) { _ = try await store.abandonCreating(volume.id) }
                    }
                    throw error
                }
            case .creating:
                placed.append(try await service.createStorage(volume, context: context))
            default:
                throw LunarError(.resourceInUse, "volume \(volume.name) is \(volume.state.rawValue)")
            }
        }
        return placed
    }

    /// Grants `host` every volume and returns the spec its agent needs. Undoes the grants it made
    /// on failure (a fence that fails then is thrown instead of the grant's error).
    func grantAll(_ volumes: [Volume], vm: VirtualMachine, to host: LunarModel.Host, reason: VolumeGrant.Reason, jobID: JobID?) async throws -> VMSpec {
        var disks: [DiskSpec] = []
        var granted: [Volume] = []
        let offering: ServiceOffering?
        do {
            offering = try await store.serviceOffering(vm.serviceOfferingID)
            for volume in volumes {
                // Counted before the call: a lost answer may hide a grant made.
                granted.append(volume)
                let connection = try await access.grant(volume, to: host, reason: reason, jobID: jobID?.uuid)
                let (pool, _, _) = try await access.poolOf(volume)
                disks.append(diskSpec(volume, pool: pool, connection: connection.wire))
            }
        } catch {
            try await fence(granted, from: host)
            throw error
        }
        return VMSpec(
            id: vm.id, name: vm.name, cpuCores: offering?.cpuNumber ?? 1, memoryMB: offering?.memoryMB ?? 512, disks: disks,
            workload: WorkloadSpec(mode: WorkloadSpec.Mode(rawValue: vm.workload) ?? .idle, queueDepth: vm.workload == "journal" ? 4 : 1)
        )
    }

    /// What the agent needs of one disk: how to reach it and the hypervisor's limits, the
    /// offering's twelve rate limits and, where the storage does not enforce IOPS itself
    /// (`qosenforcedby` hypervisor), its maximum IOPS as a total IOPS throttle.
    func diskSpec(_ volume: Volume, pool: StoragePool, connection: DiskConnection) -> DiskSpec {
        let enforcement = server.providers.provider(named: pool.provider)?.qosEnforcement ?? .none
        return DiskSpec(
            volumeID: volume.id, deviceID: volume.deviceID ?? 0, poolType: pool.provider, sizeBytes: volume.sizeBytes, connection: connection,
            limits: volume.rateLimits.isEmpty ? nil : volume.rateLimits, totalIOPSLimit: enforcement == .hypervisor ? volume.maxIOPS : nil
        )
    }

    /// Takes `host`'s access to every volume that has storage away; each revoke is tried three
    /// times. Returns only when the host can no longer reach any of them.
    /// - Throws: `FenceError` naming the volumes still reachable.
    func fence(_ volumes: [Volume], from host: LunarModel.Host) async throws {
        var failed: [String] = []
        var lastError = ""
        for volume in volumes where volume.path != nil {
            var revoked = false
            for attempt in 1...3 where !revoked {
                do {
                    try await access.revoke(volume, from: host)
                    revoked = true
                } catch {
                    lastError = "\(error)"
                    server.logger.error("could not revoke a host's access", metadata: ["volume.id": .string(volume.id.uuid), "host.id": .string(host.id.uuid), "attempt": .stringConvertible(attempt), "error": .string("\(error)")])
                    if attempt < 3 { try await server.clock.sleep(for: .milliseconds(200 * attempt)) }
                }
            }
            if !revoked { failed.append(volume.name) }
        }
        guard failed.isEmpty else { throw FenceError(host: host.name, volumes: failed, reason: lastError) }
    }

    /// The undo of a grant: a fence, critical.
    func fenceStep(_ volumes: [Volume], _ host: LunarModel.Host) -> (name: String, undo: FlowUndo) {
        ("fence \(host.name)", .fence(volumes: volumes.map(\.id), host: host.id))
    }

    /// The undo of an agent call: a courtesy (the fence after it protects the disks).
    func agentStep(_ name: String, _ command: AgentCommand, _ host: LunarModel.Host) -> (name: String, undo: FlowUndo) {
        (name, .agent(command, host: host.id))
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
