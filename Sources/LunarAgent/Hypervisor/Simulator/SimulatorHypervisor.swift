import Logging
import LunarModel
import LunarWire

/// The `simulator` hypervisor: VMs live inside the agent and do real I/O through disks connected
/// by the storage adaptors (Lunar's own initiator for the SAN), so access control, fencing and
/// QoS are exercised for real without a hypervisor. Its VMs end with the agent.
public actor SimulatorHypervisor: Hypervisor {
    public nonisolated let name = "Simulator"
    public nonisolated let accel: String? = nil
    let pools: StoragePoolManager
    let logger: Logger
    var vms: [VirtualMachineID: SimulatedVM] = [:]

    public init(pools: StoragePoolManager, logger: Logger) {
        self.pools = pools
        self.logger = logger
    }

    func vm(_ id: VirtualMachineID) -> SimulatedVM? { vms[id] }

    public func reports() async -> [VMReport] {
        var all: [VMReport] = []
        for vm in vms.values { all.append(await vm.report()) }
        return all.sorted { $0.id < $1.id }
    }

    public func connectedVolumes() async -> [VolumeID] { await pools.connectedDisks() }

    /// Simulated VMs live in the agent's memory: none survive it.
    public func adoptRunningGuests() async {}

    /// A host powering off: every VM's writes stop and every disk logs out.
    public func agentStopping() async {
        for (id, vm) in vms {
            _ = await vm.pause()
            vms[id] = nil
        }
        for volume in await pools.connectedDisks() {
            do { try await pools.disconnect(volume) } catch {
                logger.error("a disk could not be disconnected as the agent stops", metadata: ["volume.id": .string(volume.uuid), "error": .string("\(error)")])
            }
        }
    }

    public func start(_ spec: VMSpec, paused: Bool) async throws -> AgentResult {
        if let existing = vms[spec.id] {
            // A repeat of the same command: answer as before. A leftover with other disks (an old
            // receiver, an instance from before a fence) is stopped and the VM made afresh.
            if Set(await existing.volumes) == Set(spec.disks.map(\.volumeID)) {
                if !paused { try await existing.start() }
                return AgentResult(vms: [await existing.report()])
            }
            _ = try await stopNow(spec.id)
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
            // The start's own error is the answer; a disk left connected is logged (and the
            // server's fence after a failed start takes it away at the SAN).
            for disk in connected {
                do { try await pools.disconnect(disk) } catch let undo {
                    logger.error("a failed start could not disconnect a disk", metadata: ["volume.id": .string(disk.volumeID.uuid), "error": .string("\(undo)")])
                }
            }
            throw error
        }
    }

    public func stop(_ id: VirtualMachineID) async throws -> AgentResult { try await stopNow(id) }

    public func cancelMigration(_ id: VirtualMachineID) async throws -> AgentResult { try await stopNow(id) }

    /// The VM stops at once; a disk that cannot be disconnected is thrown (the host's next
    /// clean-up sweep, which lists it as connected, disconnects it).
    func stopNow(_ id: VirtualMachineID) async throws -> AgentResult {
        guard let vm = vms.removeValue(forKey: id) else { return AgentResult() }
        _ = await vm.pause()
        for disk in await vm.spec.disks { try await pools.disconnect(disk) }
        logger.info("VM stopped", metadata: ["vm.id": .string(id.uuid)])
        return AgentResult()
    }

    public func attach(_ disk: DiskSpec, to id: VirtualMachineID) async throws -> AgentResult {
        guard let vm = vms[id] else { throw AgentFailure(.notFound, "VM \(id) is not running on this host") }
        let physical = try await pools.connect(disk)
        await vm.attach(disk, physical: physical)
        return AgentResult(vms: [await vm.report()])
    }

    /// The simulator throttles nothing: it checks the disk is there and answers what runs.
    public func setLimits(_ limits: HypervisorRateLimits?, totalIOPS: Int64?, of volume: VolumeID, on id: VirtualMachineID) async throws -> AgentResult {
        guard let vm = vms[id] else { throw AgentFailure(.notFound, "VM \(id) is not running on this host") }
        let report = await vm.report()
        guard report.volumes.contains(volume) else { throw AgentFailure(.notFound, "VM \(id) has no disk \(volume)") }
        return AgentResult(vms: [report])
    }

    public func detach(_ volumeID: VolumeID, from id: VirtualMachineID) async throws -> AgentResult {
        if let vm = vms[id] { await vm.detach(volumeID) }
        try await pools.disconnect(volumeID)
        return AgentResult(vms: vms[id] == nil ? [] : [await vms[id]!.report()])
    }

    /// The source stops writing before the destination starts: pause waits out every write.
    public func migrate(_ id: VirtualMachineID, to destination: MigrationDestination) async throws -> AgentResult {
        guard let vm = vms[id] else { throw AgentFailure(.notFound, "VM \(id) is not on this host") }
        return AgentResult(vms: [await vm.report()], migrationState: await vm.pause())
    }

    public func resume(_ id: VirtualMachineID, from state: VMState) async throws -> AgentResult {
        guard let vm = vms[id] else { throw AgentFailure(.notFound, "VM \(id) was not prepared on this host") }
        try await vm.resume(from: state)
        return AgentResult(vms: [await vm.report()])
    }

    public func takeAway(_ volume: VolumeID) async throws {
        for vm in vms.values where await vm.volumes.contains(volume) { await vm.detach(volume) }
        try await pools.disconnect(volume)
    }
}
