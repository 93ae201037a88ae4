import Logging
import LunarModel
import LunarWire

/// Brings an agent in line with the server: at registration it tells the agent its pools and deals
/// with VMs the agent lost (an agent restart ends the simulator's VMs); at registration and on
/// every heartbeat it has the agent stop VMs and disconnect disks the server does not expect
/// there — so a host that was partitioned and fenced, or a command whose answer was lost, leaves
/// nothing behind.
struct HostSynchronizer: Sendable {
    let server: ServerContext

    func agentConnected(_ host: LunarModel.Host, report: AgentRegistration) async {
        var logger = server.logger
        logger[metadataKey: "host.id"] = .string(host.id.uuid)
        do {
            for pool in try await server.store.pools(zoneID: host.zoneID) {
                _ = try await server.agents.call(.modifyStoragePool(PoolSpec(id: pool.id, name: pool.name, type: pool.provider)), on: host.id)
            }
            let running = Set(report.vms.map(\.id))
            let lost = try await server.store.virtualMachines(on: host.id).filter { $0.state == .running && $0.hostID == host.id && !running.contains($0.id) }
            // The host is alive (its agent just registered): HA VMs start again where they were,
            // keeping their grants; eight at a time.
            let quietLogger = logger
            await withTaskGroup(of: Void.self) { group in
                for (index, vm) in lost.enumerated() {
                    if index >= 8 { await group.next() }
                    group.addTask {
                        quietLogger.warning("the host's agent came back without a VM it ran", metadata: ["vm.id": .string(vm.id.uuid)])
                        await server.vmLocks.withLock(vm.id) { await restartInPlace(vm, on: host) }
                    }
                }
            }
            try await sweep(host, reportedVMs: report.vms.map(\.id), connected: report.connectedVolumes)
        } catch {
            logger.error("could not bring a connected agent in line", metadata: ["error": .string("\(error)")])
        }
    }

    /// Starts a VM the host's agent lost again on the same host (grants kept); when that fails, or
    /// the VM is not HA-enabled, it is recovered as on a lost host. Call it holding the VM's turn.
    func restartInPlace(_ vm: VirtualMachine, on host: LunarModel.Host) async {
        guard vm.haEnabled else {
            await HostMonitor.recover(vm, lostOn: host, server: server)
            return
        }
        let service = VMService(server: server)
        do {
            // Claim it; another flow that moved it meanwhile owns it, and nothing is done here.
            guard let current = try await server.store.virtualMachine(vm.id), current.state == .running, current.hostID == host.id else { return }
            do {
                _ = try await service.start(current, on: host, event: .restartRequested, context: nil)
                server.logger.notice("restarted a VM its agent lost", metadata: ["vm.id": .string(vm.id.uuid), "host.id": .string(host.id.uuid)])
            } catch let error as LunarError where error.code != .resourceUnavailable {
                // Undone and fenced (Stopped): try the other hosts, as HA would.
                server.logger.warning("could not restart a VM in place; starting it elsewhere", metadata: ["vm.id": .string(vm.id.uuid), "error": .string("\(error)")])
                guard let stopped = try await server.store.virtualMachine(vm.id), stopped.state == .stopped else { return }
                try await HostMonitor.submitRestart(stopped, server: server)
            }
        } catch {
            server.logger.error("could not restart a VM its agent lost", metadata: ["vm.id": .string(vm.id.uuid), "error": .string("\(error)")])
        }
    }

    /// Stops what the agent reported running that the server does not expect there. The report is
    /// older than the database read below, and every VM or disk the server puts on a host is
    /// recorded (VM host, grant) before the agent is asked — so nothing new is swept.
    func sweep(_ host: LunarModel.Host, reportedVMs: [VirtualMachineID], connected: [VolumeID]) async throws {
        let expectedVMs = try await server.store.virtualMachines(on: host.id)
        var expectedVolumes = Set(try await server.store.grants(host: host.id).map(\.volumeID))
        for vm in expectedVMs { expectedVolumes.formUnion(try await server.store.volumes(of: vm.id).map(\.id)) }
        // A VM running here by the database that two beats in a row did not report has died
        // on the host (one beat may simply predate its start): start it again in place.
        let absent = Set(expectedVMs.filter { $0.state == .running && $0.hostID == host.id }.map(\.id)).subtracting(reportedVMs)
        for id in await server.agents.missedTwice(host.id, now: absent) {
            guard let vm = try await server.store.virtualMachine(id), vm.state == .running, vm.hostID == host.id else { continue }
            server.logger.warning("a VM the host should run is gone from it", metadata: ["vm.id": .string(id.uuid), "host.id": .string(host.id.uuid)])
            await server.vmLocks.withLock(id) { await restartInPlace(vm, on: host) }
        }
        let stop = Set(reportedVMs).subtracting(expectedVMs.map(\.id))
        let disconnect = Set(connected).subtracting(expectedVolumes)
        guard !stop.isEmpty || !disconnect.isEmpty else { return }
        server.logger.notice(
            "the host holds what the server does not expect there: cleaning up",
            metadata: ["host.id": .string(host.id.uuid), "vms": .stringConvertible(stop.count), "volumes": .stringConvertible(disconnect.count)]
        )
        _ = try await server.agents.call(.cleanUp(stopVMs: stop.sorted(), disconnectVolumes: disconnect.sorted()), on: host.id)
    }
}
