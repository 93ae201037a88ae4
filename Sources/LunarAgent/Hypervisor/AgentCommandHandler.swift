import Logging
import LunarModel
import LunarWire

/// Carries out the server's commands on this host through its hypervisor. Every command is
/// idempotent; commands for one VM run one at a time, different VMs in parallel.
public actor AgentCommandHandler {
    let pools: StoragePoolManager
    public let hypervisor: any Hypervisor
    let logger: Logger
    /// One operation per VM at a time, in arrival order.
    let turns = KeyedAsyncLock<VirtualMachineID>()

    /// - Parameter hypervisor: what runs the VMs (default: the simulator over `pools`).
    public init(pools: StoragePoolManager, hypervisor: (any Hypervisor)? = nil, logger: Logger) {
        self.pools = pools
        self.hypervisor = hypervisor ?? SimulatorHypervisor(pools: pools, logger: logger)
        self.logger = logger
    }

    public func handle(_ command: AgentCommand) async -> AgentAnswer {
        do {
            return .done(try await perform(command))
        } catch let failure as AgentFailure {
            logger.warning("command failed", metadata: ["agent.command": .string(command.name), "error": .string(failure.description)])
            return .failed(failure)
        } catch {
            return .failed(AgentFailure(.internalError, "\(error)"))
        }
    }

    func perform(_ command: AgentCommand) async throws -> AgentResult {
        let hypervisor = self.hypervisor
        switch command {
        case .startVM(let spec):
            return try await serially(spec.id) { try await hypervisor.start(spec, paused: false) }
        case .prepareForMigration(let spec):
            return try await serially(spec.id) { try await hypervisor.start(spec, paused: true) }
        case .stopVM(let id):
            return try await serially(id) { try await hypervisor.stop(id) }
        case .cancelMigration(let id):
            return try await serially(id) { try await hypervisor.cancelMigration(id) }
        case .attachVolume(let id, let disk):
            return try await serially(id) { try await hypervisor.attach(disk, to: id) }
        case .detachVolume(let id, let volume):
            return try await serially(id) { try await hypervisor.detach(volume, from: id) }
        case .migrateVM(let id, let destination):
            return try await serially(id) { try await hypervisor.migrate(id, to: destination) }
        case .resumeMigratedVM(let id, let state):
            return try await serially(id) { try await hypervisor.resume(id, from: state) }
        case .setDiskLimits(let id, let volume, let limits, let total):
            return try await serially(id) { try await hypervisor.setLimits(limits, totalIOPS: total, of: volume, on: id) }
        case .modifyStoragePool(let pool):
            try await pools.modify(pool)
            return AgentResult()
        case .checkVMs:
            return AgentResult(vms: await hypervisor.reports(), connectedVolumes: await hypervisor.connectedVolumes())
        case .cleanUp(let stopVMs, let disconnectVolumes):
            return try await cleanUp(stopping: stopVMs, disconnecting: disconnectVolumes)
        case .readyForShutdown:
            let vms = await hypervisor.reports()
            return AgentResult(vms: vms, ready: vms.isEmpty)
        }
    }

    /// The agent is going away.
    public func shutdown() async { await hypervisor.agentStopping() }

    public func reports() async -> [VMReport] { await hypervisor.reports() }

    public func connectedVolumes() async -> [VolumeID] { await hypervisor.connectedVolumes() }

    /// Stops what the server does not expect here and takes away the volumes it does not expect.
    func cleanUp(stopping stopVMs: [VirtualMachineID], disconnecting volumes: [VolumeID]) async throws -> AgentResult {
        let hypervisor = self.hypervisor
        for id in stopVMs {
            _ = try await serially(id) { try await hypervisor.stop(id) }
        }
        // The server says no VM here should have these (a DetachVolume it sent may have been
        // lost): take them from any VM that still does, then disconnect.
        for volume in volumes {
            let holders = await hypervisor.reports().filter { $0.volumes.contains(volume) }.map(\.id)
            for id in holders { try await serially(id) { try await hypervisor.takeAway(volume) } }
            logger.notice("disconnecting a disk no VM here needs", metadata: ["volume.id": .string(volume.uuid)])
            try await hypervisor.takeAway(volume)
        }
        return AgentResult(vms: await hypervisor.reports(), connectedVolumes: await hypervisor.connectedVolumes())
    }

    /// Runs `body` after every earlier operation on the same VM.
    /// A command once begun finishes whole even if the server's connection drops (its answer is
    /// then lost, which the server handles): the work runs in its own task, awaited here.
    func serially<T: Sendable>(_ id: VirtualMachineID, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let turns = self.turns
        return try await Deterministic.throwingTask { try await turns.withLock(id, body) }.value
    }
}
