import LunarModel
import LunarWire

/// The undo of one flow step, as data: kept by `FlowSteps` while the flow runs and journaled with
/// the step in the job's rows, so the same undo runs whether the flow fails now or the server died
/// in the middle and `FlowRecovery` finds the job after a restart.
enum FlowUndo: Codable, Sendable, Equatable {
    /// Take the host's access to the volumes away (the undo of a grant): a fence, critical.
    case fence(volumes: [VolumeID], host: HostID)
    /// Ask the host's agent to undo (stop, detach, cancel): a courtesy, since the fence after it
    /// is what protects the disks.
    case agent(AgentCommand, host: HostID)
    /// Undo a hand-over: fence the destination, then take the VM's state from the source again
    /// and resume it there. Critical: the two must never write at once.
    case resumeSource(vm: VirtualMachineID, source: HostID, destination: HostID, volumes: [VolumeID])

    var critical: Bool {
        switch self {
        case .fence, .resumeSource: true
        case .agent: false
        }
    }

    func run(_ service: VMService) async throws {
        let store = service.store
        func host(_ id: HostID) async throws -> LunarModel.Host {
            guard let host = try await store.host(id) else { throw LunarError.unknownID("host", id.uuid) }
            return host
        }
        func volumes(_ ids: [VolumeID]) async throws -> [Volume] {
            var found: [Volume] = []
            for id in ids { if let volume = try await store.volume(id) { found.append(volume) } }
            return found
        }
        switch self {
        case .fence(let ids, let hostID):
            try await service.fence(try await volumes(ids), from: try await host(hostID))
        case .agent(let command, let hostID):
            _ = try await service.agents.call(command, on: hostID)
        case .resumeSource(let vm, let sourceID, let destinationID, let ids):
            let destination = try await host(destinationID)
            do {
                _ = try await service.agents.call(.cancelMigration(vm), on: destinationID)
            } catch {
                service.server.logger.warning("the destination did not cancel the migration; fencing it", metadata: ["error": .string("\(error)")])
            }
            try await service.fence(try await volumes(ids), from: destination)
            let target = MigrationDestination(hostID: destinationID, hostName: destination.name)
            let paused = try await service.agents.call(.migrateVM(vm: vm, destination: target), on: sourceID)
            guard let state = paused.migrationState else { throw LunarError(.internalError, "the source holds no state of the VM") }
            do {
                _ = try await service.agents.call(.resumeMigratedVM(vm: vm, state: state), on: sourceID)
            } catch let error as AgentCallError where !error.isRefusal {
                // The source reads every acknowledged write back before it resumes, which can
                // outlast the answer's timeout: a lost answer may hide a resume. Ask (bounded).
                for _ in 0..<20 {
                    if try await service.runs(vm, on: sourceID) == true { return }
                    try await service.server.clock.sleep(for: .milliseconds(500))
                }
                throw error
            }
        }
    }
}
