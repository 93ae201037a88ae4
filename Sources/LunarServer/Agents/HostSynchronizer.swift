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
            for vm in try await server.store.virtualMachines(on: host.id) where vm.state == .running && vm.hostID == host.id && !running.contains(vm.id) {
                logger.warning("the host's agent came back without a VM it ran", metadata: ["vm.id": .string(vm.id.uuid)])
                await HostMonitor.recover(vm, lostOn: host, server: server)
            }
            try await sweep(host, reportedVMs: report.vms.map(\.id), connected: report.connectedVolumes)
        } catch {
            logger.error("could not bring a connected agent in line", metadata: ["error": .string("\(error)")])
        }
    }

    /// Stops what the agent reported running that the server does not expect there. The report is
    /// older than the database read below, and every VM or disk the server puts on a host is
    /// recorded (VM host, grant) before the agent is asked — so nothing new is swept.
    func sweep(_ host: LunarModel.Host, reportedVMs: [VirtualMachineID], connected: [VolumeID]) async throws {
        let expectedVMs = try await server.store.virtualMachines(on: host.id)
        var expectedVolumes = Set(try await server.store.grants(host: host.id).map(\.volumeID))
        for vm in expectedVMs { expectedVolumes.formUnion(try await server.store.volumes(of: vm.id).map(\.id)) }
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
