import Logging
import LunarModel
import LunarWire

/// After a server restart, brings a VM that a job left half-way (Starting, Stopping, Migrating) to
/// a settled state by asking its hosts what really runs there: what did happen is kept, what did
/// not is rolled back, and the grants follow.
struct VMRecovery: Sendable {
    let server: ServerContext
    /// How long to wait for a host's agent to reconnect after the restart.
    var agentWait: Duration = .seconds(30)

    var store: Store { server.store }
    var agents: AgentGateway { server.agents }

    func settle(_ vm: VirtualMachine) async throws -> VirtualMachine {
        let service = VMService(server: server)
        let volumes = try await store.volumes(of: vm.id)
        switch vm.state {
        case .starting:
            guard let hostID = vm.hostID, let host = try await store.host(hostID) else { break }
            var running = false
            for _ in 0..<5 {
                do {
                    running = try await runs(vm.id, on: hostID)
                    break
                } catch {
                    // Unreachable for now; after the last try it counts as not started (and is fenced by the revokes).
                    try await Task.sleep(for: .milliseconds(500))
                }
            }
            if running {
                _ = try await service.grantAll(volumes, vm: vm, to: host, reason: .start, jobID: nil)
                return try await store.updateVirtualMachine(vm.id, from: [.starting], to: .running, host: hostID)
            }
            _ = try? await agents.call(.stopVM(vm.id), on: hostID)
            await service.revokeAll(volumes, from: host)
            return try await store.updateVirtualMachine(vm.id, from: [.starting], to: .stopped, host: nil)
        case .stopping:
            guard let hostID = vm.hostID, let host = try await store.host(hostID) else { break }
            _ = try? await waitForAgent(hostID)
            _ = try? await agents.call(.stopVM(vm.id), on: hostID)
            await service.revokeAll(volumes, from: host)
            return try await store.updateVirtualMachine(vm.id, from: [.stopping], to: .stopped, host: nil)
        case .migrating:
            guard let sourceID = vm.hostID, let source = try await store.host(sourceID), let destinationID = vm.migrationHostID,
                let destination = try await store.host(destinationID)
            else { break }
            let report = try? await reports(on: destinationID).first { $0.id == vm.id }
            if report?.state == .running {
                // The hand-over happened: finish the cut-over.
                let moved = try await store.updateVirtualMachine(vm.id, from: [.migrating], to: .running, host: destinationID)
                _ = try? await agents.call(.stopVM(vm.id), on: sourceID)
                await service.revokeAll(volumes, from: source)
                return moved
            }
            _ = try? await agents.call(.cancelMigration(vm.id), on: destinationID)
            await service.revokeAll(volumes, from: destination)
            // The source may hold the VM (paused mid-hand-over, or still busy handing it over):
            // take its state again and resume it there. Only the agent saying it has no such VM
            // counts as lost; no answer means ask again.
            for _ in 0..<5 {
                do {
                    try await waitForAgent(sourceID)
                    let paused = try await agents.call(.migrateVM(vm: vm.id, destination: MigrationDestination(hostID: destinationID, hostName: destination.name)), on: sourceID)
                    guard let state = paused.migrationState else { break }
                    _ = try await agents.call(.resumeMigratedVM(vm: vm.id, state: state), on: sourceID)
                    return try await store.updateVirtualMachine(vm.id, from: [.migrating], to: .running, host: sourceID)
                } catch let error as AgentCallError where error.isRefusal {
                    break
                } catch {
                    try await Task.sleep(for: .milliseconds(500))
                }
            }
            await service.revokeAll(volumes, from: source)
            return try await store.updateVirtualMachine(vm.id, from: [.migrating], to: .stopped, host: nil)
        default:
            break
        }
        return vm
    }

    func runs(_ id: VirtualMachineID, on host: HostID) async throws -> Bool {
        try await reports(on: host).contains { $0.id == id && $0.state == .running }
    }

    func reports(on host: HostID) async throws -> [VMReport] {
        try await waitForAgent(host)
        return try await agents.call(.checkVMs, on: host).vms
    }

    func waitForAgent(_ host: HostID) async throws {
        let deadline = ContinuousClock.now + agentWait
        while !(await agents.isConnected(host)) {
            guard ContinuousClock.now < deadline else { throw AgentCallError.disconnected(host) }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}
