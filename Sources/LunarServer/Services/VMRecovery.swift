import Logging
import LunarModel
import LunarWire

/// After a server restart (or for HA), brings a VM that a flow left half-way (Starting, Stopping,
/// Migrating, or Error with hosts to fence) to a settled state by asking its hosts what really
/// runs there: what did happen is kept, what did not is undone, and every host the VM leaves is
/// fenced before the database says so. "No answer" is never taken for "not there": a host that
/// cannot be asked is fenced instead.
struct VMRecovery: Sendable {
    let server: ServerContext
    /// How long to wait for a host's agent to reconnect after the restart.
    var agentWait: Duration = .seconds(30)
    /// Times a host is asked before its silence counts as "cannot tell".
    var attempts = 5

    var store: Store { server.store }
    var agents: AgentGateway { server.agents }
    var service: VMService { VMService(server: server) }

    func settle(_ vm: VirtualMachine) async throws -> VirtualMachine {
        let volumes = try await store.volumes(of: vm.id)
        switch vm.state {
        case .starting:
            guard let hostID = vm.hostID, let host = try await store.host(hostID) else { break }
            if try await ask(vm.id, on: hostID).isRunning {
                _ = try await service.grantAll(volumes, vm: vm, to: host, reason: .start, jobID: nil)
                return try await store.transitionVirtualMachine(vm.id, .started)
            }
            await courtesy(.stopVM(vm.id), on: hostID)
            try await fenceOrRecord(vm, volumes, [host])
            return try await store.transitionVirtualMachine(vm.id, .startRolledBack, fenced: [hostID])
        case .error where vm.hostID != nil:
            // A fence that failed mid-flow (a migration's destination, a stop): fence every other
            // host; if the VM still runs on its host it stays there, else it is stopped and fenced.
            let hostID = vm.hostID!
            let others = try await hostsOf(vm).filter { $0.id != hostID }
            try await fenceOrRecord(vm, volumes, others)
            if try await ask(vm.id, on: hostID).isRunning, let host = try await store.host(hostID) {
                _ = try await service.grantAll(volumes, vm: vm, to: host, reason: .start, jobID: nil)
                return try await store.transitionVirtualMachine(vm.id, .recovered, fenced: Set(others.map(\.id)))
            }
            await courtesy(.stopVM(vm.id), on: hostID)
            let hosts = try await hostsOf(vm)
            try await fenceOrRecord(vm, volumes, hosts)
            return try await store.transitionVirtualMachine(vm.id, .fenced, fenced: Set(hosts.map(\.id)))
        case .stopping, .error:
            let hosts = try await hostsOf(vm)
            if let hostID = vm.hostID, try await waitForAgent(hostID) { await courtesy(.stopVM(vm.id), on: hostID) }
            try await fenceOrRecord(vm, volumes, hosts)
            return try await store.transitionVirtualMachine(vm.id, vm.state == .error ? .fenced : .stopped, fenced: Set(hosts.map(\.id)))
        case .migrating:
            guard let sourceID = vm.hostID, let source = try await store.host(sourceID), let destinationID = vm.migrationHostID,
                let destination = try await store.host(destinationID)
            else { break }
            let atDestination = try await ask(vm.id, on: destinationID)
            if atDestination.isRunning {
                // The hand-over happened: finish the cut-over.
                await courtesy(.stopVM(vm.id), on: sourceID)
                try await fenceOrRecord(vm, volumes, [source])
                return try await store.transitionVirtualMachine(vm.id, .migrationCompleted, fenced: [sourceID])
            }
            if case .silent = atDestination {
                // It may run there and have written: the source's older state must never resume.
                try await fenceOrRecord(vm, volumes, [destination, source])
                return try await store.transitionVirtualMachine(vm.id, .lost, fenced: [sourceID, destinationID])
            }
            // Not running there: it is stopped and fenced before the source may resume, so the
            // two never write at once.
            await courtesy(.cancelMigration(vm.id), on: destinationID)
            try await fenceOrRecord(vm, volumes, [destination])
            // The source may hold the VM (paused mid-hand-over, or still busy handing it over):
            // take its state again and resume it there. Only the agent saying it has no such VM
            // counts as lost; no answer means ask again.
            let target = MigrationDestination(hostID: destinationID, hostName: destination.name)
            for attempt in 1...attempts {
                guard try await waitForAgent(sourceID) else { break }
                do {
                    let paused = try await agents.call(.migrateVM(vm: vm.id, destination: target), on: sourceID)
                    guard let state = paused.migrationState else { break }
                    _ = try await agents.call(.resumeMigratedVM(vm: vm.id, state: state), on: sourceID)
                    return try await store.transitionVirtualMachine(vm.id, .migrationRolledBack, fenced: [destinationID])
                } catch let error as AgentCallError where error.isRefusal {
                    break
                } catch let error as AgentCallError {
                    server.logger.notice("the migration source did not answer; asking again", metadata: ["vm.id": .string(vm.id.uuid), "attempt": .stringConvertible(attempt), "error": .string("\(error)")])
                    try await server.clock.sleep(for: .milliseconds(500))
                }
            }
            // Lost: on no host. Fenced everywhere and Stopped, so HA (or the user) starts it afresh.
            try await fenceOrRecord(vm, volumes, [source])
            return try await store.transitionVirtualMachine(vm.id, .lost, fenced: [sourceID, destinationID])
        default:
            break
        }
        return vm
    }

    /// Every host the VM may hold.
    func hostsOf(_ vm: VirtualMachine) async throws -> [LunarModel.Host] {
        var hosts: [LunarModel.Host] = []
        for id in VMPosition(state: vm.state, host: vm.hostID, migrationHost: vm.migrationHostID).hosts.sorted() {
            if let host = try await store.host(id) { hosts.append(host) }
        }
        return hosts
    }

    /// Fences `hosts`; a fence that fails leaves the VM in Error (the hosts recorded) and throws.
    func fenceOrRecord(_ vm: VirtualMachine, _ volumes: [Volume], _ hosts: [LunarModel.Host]) async throws {
        do {
            for host in hosts { try await service.fence(volumes, from: host) }
        } catch {
            if vm.state != .error { _ = try await store.transitionVirtualMachine(vm.id, .fenceFailed) }
            throw FenceError.wrap(error).apiError("VM \(vm.name) is in Error until its hosts are fenced")
        }
    }

    /// An agent call whose failure the fence after it covers: logged, not thrown.
    func courtesy(_ command: AgentCommand, on host: HostID) async {
        do {
            _ = try await agents.call(command, on: host)
        } catch {
            server.logger.notice("a host did not carry out a command during recovery; the fence covers it", metadata: ["agent.command": .string(command.name), "error": .string("\(error)")])
        }
    }

    /// What a host says of a VM.
    enum HostAnswer {
        case runs(VMReport)
        case absent
        /// The host could not be asked.
        case silent

        var isRunning: Bool {
            if case .runs(let report) = self { return report.state == .running }
            return false
        }
    }

    /// Asks the host (a few times) what it holds of the VM; `.silent` when it cannot be asked
    /// (callers then fence it, and never take silence for "not there").
    func ask(_ id: VirtualMachineID, on host: HostID) async throws -> HostAnswer {
        for attempt in 1...attempts {
            guard try await waitForAgent(host) else { return .silent }
            do {
                return try await agents.call(.checkVMs, on: host).vms.first { $0.id == id }.map(HostAnswer.runs) ?? .absent
            } catch let error as AgentCallError where !error.isRefusal {
                server.logger.notice("a host did not answer CheckVMs; asking again", metadata: ["attempt": .stringConvertible(attempt), "error": .string("\(error)")])
                try await server.clock.sleep(for: .milliseconds(500))
            }
        }
        return .silent
    }

    /// Waits (at most `agentWait`) for the host's agent to be connected; false when it is not.
    func waitForAgent(_ host: HostID) async throws -> Bool {
        var waited: Duration = .zero
        while !(await agents.isConnected(host)) {
            guard waited < agentWait else { return false }
            try await server.clock.sleep(for: .milliseconds(100))
            waited += .milliseconds(100)
        }
        return true
    }
}
