import Logging
import LunarModel
import LunarWire

/// Carries out the server's commands on this host with the `simulator` hypervisor. Every command
/// is idempotent; commands for one VM run one at a time, different VMs in parallel.
public actor AgentCommandHandler {
    let pools: StoragePoolManager
    let logger: Logger
    var vms: [VirtualMachineID: SimulatedVM] = [:]
    /// One operation per VM at a time, in arrival order.
    let turns = KeyedAsyncLock<VirtualMachineID>()

    public init(pools: StoragePoolManager, logger: Logger) {
        self.pools = pools
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
        switch command {
        case .startVM(let spec):
            return try await serially(spec.id) { try await self.start(spec, paused: false) }
        case .prepareForMigration(let spec):
            return try await serially(spec.id) { try await self.start(spec, paused: true) }
        case .stopVM(let id), .cancelMigration(let id):
            return try await serially(id) { await self.stop(id) }
        case .attachVolume(let id, let disk):
            return try await serially(id) { try await self.attach(disk, to: id) }
        case .detachVolume(let id, let volume):
            return try await serially(id) { await self.detach(volume, from: id) }
        case .migrateVM(let id, _):
            return try await serially(id) {
                guard let vm = await self.vm(id) else { throw AgentFailure(.notFound, "VM \(id) is not on this host") }
                // The source stops writing before the destination starts: pause waits out every write.
                return AgentResult(vms: [await vm.report()], migrationState: await vm.pause())
            }
        case .resumeMigratedVM(let id, let state):
            return try await serially(id) {
                guard let vm = await self.vm(id) else { throw AgentFailure(.notFound, "VM \(id) was not prepared on this host") }
                try await vm.resume(from: state)
                return AgentResult(vms: [await vm.report()])
            }
        case .modifyStoragePool(let pool):
            try await pools.modify(pool)
            return AgentResult()
        case .checkVMs:
            return AgentResult(vms: await reports(), connectedVolumes: await pools.connectedDisks())
        case .cleanUp(let stopVMs, let disconnectVolumes):
            return try await cleanUp(stopping: stopVMs, disconnecting: disconnectVolumes)
        case .readyForShutdown:
            return AgentResult(vms: await reports(), ready: vms.isEmpty)
        }
    }

    func vm(_ id: VirtualMachineID) -> SimulatedVM? { vms[id] }

    /// The agent is going away and its simulated VMs with it (a host powering off): stop every
    /// VM's writes and log out of every disk.
    public func shutdown() async {
        for (id, vm) in vms {
            _ = await vm.pause()
            for disk in await vm.spec.disks { await pools.disconnect(disk) }
            vms[id] = nil
        }
        for volume in await pools.connectedDisks() { await pools.disconnect(volume) }
    }

    public func reports() async -> [VMReport] {
        var all: [VMReport] = []
        for vm in vms.values { all.append(await vm.report()) }
        return all.sorted { $0.id < $1.id }
    }

    /// Connects every disk, then starts (or, for a migration receiver, holds paused) the VM. A
    /// failure disconnects what this call connected.
    func start(_ spec: VMSpec, paused: Bool) async throws -> AgentResult {
        if let existing = vms[spec.id] {
            // A repeat of the same command: answer as before. A leftover with other disks (an old
            // receiver, an instance from before a fence) is stopped and the VM made afresh.
            if Set(await existing.volumes) == Set(spec.disks.map(\.volumeID)) {
                if !paused { try await existing.start() }
                return AgentResult(vms: [await existing.report()])
            }
            _ = await stop(spec.id)
        }
        var connected: [DiskSpec] = []
        var disks: [VolumeID: any PhysicalDisk] = [:]
        do {
            for disk in spec.disks {
                disks[disk.volumeID] = try await pools.connect(disk)
                connected.append(disk)
            }
            let vm = SimulatedVM(spec: spec, disks: disks, logger: logger)
            if !paused { try await vm.start() }
            vms[spec.id] = vm
            logger.info(paused ? "migration receiver ready" : "VM started", metadata: ["vm.id": .string(spec.id.uuid), "vm.disks": .stringConvertible(spec.disks.count)])
            return AgentResult(vms: [await vm.report()])
        } catch {
            for disk in connected { await pools.disconnect(disk) }
            throw error
        }
    }

    /// Stops the VM and disconnects its disks; nothing to do when it is not here.
    func stop(_ id: VirtualMachineID) async -> AgentResult {
        guard let vm = vms.removeValue(forKey: id) else { return AgentResult() }
        _ = await vm.pause()
        for disk in await vm.spec.disks { await pools.disconnect(disk) }
        logger.info("VM stopped", metadata: ["vm.id": .string(id.uuid)])
        return AgentResult()
    }

    func attach(_ disk: DiskSpec, to id: VirtualMachineID) async throws -> AgentResult {
        guard let vm = vms[id] else { throw AgentFailure(.notFound, "VM \(id) is not running on this host") }
        let physical = try await pools.connect(disk)
        await vm.attach(disk, physical: physical)
        return AgentResult(vms: [await vm.report()])
    }

    func detach(_ volumeID: VolumeID, from id: VirtualMachineID) async -> AgentResult {
        if let vm = vms[id] { await vm.detach(volumeID) }
        await pools.disconnect(volumeID)
        return AgentResult(vms: vms[id] == nil ? [] : [await vms[id]!.report()])
    }

    /// Stops what the server does not expect here and takes away the volumes it does not expect.
    func cleanUp(stopping stopVMs: [VirtualMachineID], disconnecting volumes: [VolumeID]) async throws -> AgentResult {
        for id in stopVMs {
            _ = try await serially(id) { await self.stop(id) }
        }
        // The server says no VM here should have these (a DetachVolume it sent may have been
        // lost): take them from any VM that still does, then disconnect.
        for volume in volumes {
            for (id, vm) in vms where await vm.volumes.contains(volume) {
                _ = try await serially(id) { await vm.detach(volume) }
            }
            logger.notice("disconnecting a disk no VM here needs", metadata: ["volume.id": .string(volume.uuid)])
            await pools.disconnect(volume)
        }
        return AgentResult(vms: await reports(), connectedVolumes: await pools.connectedDisks())
    }

    /// Runs `body` after every earlier operation on the same VM.
    /// A command once begun finishes whole even if the server's connection drops (its answer is
    /// then lost, which the server handles): the work runs in its own task, awaited here.
    func serially<T: Sendable>(_ id: VirtualMachineID, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let turns = self.turns
        return try await Deterministic.throwingTask { try await turns.withLock(id, body) }.value
    }
}
