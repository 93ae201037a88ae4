import LunarModel
import LunarWire

/// The one way every VM and volume flow is carried on after a server restart (DESIGN.md flow 10).
/// A command declares only its aim; the runner then, holding the instance's turn:
/// 1. waits (bounded) for the agents of the hosts involved to reconnect;
/// 2. undoes what the job's journal says the interrupted flow kept (`FlowSteps.kept(from:)`),
///    newest first, exactly as the live flow would have on a failure — except past a migration's
///    hand-over, where only the hosts can say which side runs the VM;
/// 3. settles what is still half-way by asking the hosts (`VMRecovery`);
/// 4. carries on toward the aim: start again, stop, destroy, or report how it ended.
struct FlowRecovery: Sendable {
    enum Aim: Sendable {
        /// startVirtualMachine, deployVirtualMachine, rebootVirtualMachine, HA restarts: run it.
        case start
        /// stopVirtualMachine: stop it (forced, the fence is what counts).
        case stop
        /// migrateVirtualMachine: it must end running (on either host).
        case keepRunning
        /// destroyVirtualMachine.
        case destroy
        /// attachVolume: finished if recorded, else undone and reported.
        case attach
        /// detachVolume: detached again (every step is idempotent).
        case detach
    }

    let server: ServerContext
    var store: Store { server.store }
    var service: VMService { VMService(server: server) }
    var recovery: VMRecovery { VMRecovery(server: server) }

    /// The `resume` of a command whose flow has this aim.
    static func resume(_ aim: Aim) -> @Sendable (APICall, JobContext) async throws -> JSONObject {
        { call, context in try await FlowRecovery(server: call.server).resume(call, context, aim: aim) }
    }

    func resume(_ call: APICall, _ context: JobContext, aim: Aim) async throws -> JSONObject {
        let journal = try await store.steps(of: context.jobID)
        switch aim {
        case .attach: return try await resumeAttach(call, context, journal: journal)
        case .detach: return try await resumeDetach(call, context)
        case .start, .stop, .keepRunning, .destroy: break
        }
        guard let job = try await store.job(context.jobID), let instance = job.instanceID, let id = VirtualMachineID(instance) else {
            throw LunarError(.internalError, "the VM of this job no longer exists")
        }
        return try await server.vmLocks.withLock(id) {
            guard let vm = try await store.virtualMachine(id) else {
                if case .destroy = aim { return JSONObject([:]) }
                throw LunarError(.internalError, "the VM of this job no longer exists")
            }
            let undone = try await undoInterrupted(vm, journal: journal, context: context)
            let settled = try await recovery.settle(undone)
            switch aim {
            case .start:
                return try await VMCommands.vmResult(try await service.start(settled.id, on: nil, context: context), server: server)
            case .stop:
                return try await VMCommands.vmResult(try await service.stop(settled.id, forced: true, context: context), server: server)
            case .keepRunning:
                guard settled.state == .running else {
                    throw LunarError(.internalError, "the migration was interrupted by a server restart and VM \(settled.name) could not be kept running: it is \(settled.state.rawValue)")
                }
                return try await VMCommands.vmResult(settled, server: server)
            case .destroy:
                return try await VMCommands.destroy(id, server: server, context: context)
            case .attach, .detach:
                throw LunarError(.internalError, "not a VM flow")
            }
        }
    }

    /// Step 2 for a VM: the journal's kept undos, run newest first, and the state recorded as the
    /// live flow records a rollback. Returns the VM as it is then.
    func undoInterrupted(_ vm: VirtualMachine, journal: [JobStep], context: JobContext) async throws -> VirtualMachine {
        let kept = FlowSteps.kept(from: journal)
        guard !kept.isEmpty, [.starting, .migrating].contains(vm.state) else { return vm }
        // Past the hand-over (the destination was told to resume), undoing could resume an older
        // copy over one that ran: the hosts decide (step 3).
        if vm.state == .migrating, let destination = vm.migrationHostID, let host = try await store.host(destination),
            journal.contains(where: { $0.name == "resume on \(host.name)" || $0.name.hasPrefix("disconnect ") })
        {
            return vm
        }
        for host in VMPosition(state: vm.state, host: vm.hostID, migrationHost: vm.migrationHostID).hosts.sorted() {
            _ = try await recovery.waitForAgent(host)
        }
        // Every undo is idempotent: one whose agent did not answer (busy finishing what the dead
        // server sent it, or reconnecting) is tried again, the whole list, a bounded number of times.
        for attempt in 1...recovery.attempts {
            var flow = FlowSteps(context: context, service: service, undos: kept)
            do {
                try await flow.rollback()
                break
            } catch let fence as FenceError {
                _ = try await store.transitionVirtualMachine(vm.id, .fenceFailed)
                throw fence.apiError("the flow was interrupted by a server restart; the VM is in Error until the host is fenced")
            } catch let error as AgentCallError where !error.isRefusal && attempt < recovery.attempts {
                server.logger.notice("an agent did not answer while undoing an interrupted flow; trying again", metadata: ["vm.id": .string(vm.id.uuid), "attempt": .stringConvertible(attempt), "error": .string("\(error)")])
                try await server.clock.sleep(for: .milliseconds(500))
                for host in VMPosition(state: vm.state, host: vm.hostID, migrationHost: vm.migrationHostID).hosts.sorted() {
                    _ = try await recovery.waitForAgent(host)
                }
            } catch {
                // The source no longer holds the VM, or cannot tell: fenced everywhere and Stopped,
                // never shown running on two hosts.
                server.logger.error("an interrupted flow could not be undone; fencing every host of the VM", metadata: ["vm.id": .string(vm.id.uuid), "error": .string("\(error)")])
                try await service.lose(vm.id)
                return try await store.virtualMachine(vm.id) ?? vm
            }
        }
        switch vm.state {
        case .starting:
            return try await store.transitionVirtualMachine(vm.id, .startRolledBack, fenced: Set([vm.hostID].compactMap { $0 }))
        case .migrating:
            return try await store.transitionVirtualMachine(vm.id, .migrationRolledBack, fenced: Set([vm.migrationHostID].compactMap { $0 }))
        default:
            return vm
        }
    }

    /// An attach recorded as done finished; otherwise what it did on the host is undone from its
    /// journal (disconnected, fenced) and the job reports it.
    func resumeAttach(_ call: APICall, _ context: JobContext, journal: [JobStep]) async throws -> JSONObject {
        let volumeID: VolumeID = try call.parameters.requiredID("id", command: call.command.name)
        let vmID: VirtualMachineID = try call.parameters.requiredID("virtualmachineid", command: call.command.name)
        return try await server.volumeLocks.withLock(volumeID) {
            try await server.vmLocks.withLock(vmID) {
                guard var volume = try await store.volume(volumeID) else { throw LunarError.unknownID("volume", volumeID.uuid) }
                // Placed on first use and its creation interrupted: creating is idempotent, so it
                // is finished (the volume stays, Ready, whatever becomes of the attach).
                if volume.state == .creating { volume = try await VolumeService(server: server).createStorage(volume, context: context) }
                if volume.virtualMachineID == vmID {
                    var names = NameCache(store: store)
                    return JSONObject(["volume": .object(try await server.volumeResponse(volume, names: &names))])
                }
                if let hostID = try await store.virtualMachine(vmID)?.hostID { _ = try await recovery.waitForAgent(hostID) }
                var flow = FlowSteps(context: context, service: service, undos: FlowSteps.kept(from: journal))
                do {
                    try await flow.rollback()
                } catch let failure as FenceError {
                    throw failure.apiError("the attach was interrupted by a server restart; its grant stays recorded until the storage answers")
                }
                throw LunarError(.internalError, "the attach was interrupted by a server restart and has been undone; attach again")
            }
        }
    }

    /// Detaching again is harmless: each step is idempotent. The agent gets its time to come back;
    /// without it the fence still takes the disk.
    func resumeDetach(_ call: APICall, _ context: JobContext) async throws -> JSONObject {
        let volumeID: VolumeID = try call.parameters.requiredID("id", command: call.command.name)
        if let vmID = try await store.volume(volumeID)?.virtualMachineID, let hostID = try await store.virtualMachine(vmID)?.hostID {
            _ = try await recovery.waitForAgent(hostID)
        }
        let detached = try await VMCommands.lockedDetach(volumeID, server: server, context: context)
        var names = NameCache(store: store)
        return JSONObject(["volume": .object(try await server.volumeResponse(detached, names: &names))])
    }
}
