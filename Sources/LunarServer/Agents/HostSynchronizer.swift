import Logging
import LunarModel
import LunarWire

/// Brings a (re)connected agent in line with the server: tells it its pools, deals with VMs it
/// lost (an agent restart ends the simulator's VMs), and has it keep exactly the expected VMs and
/// their disks — so a host that was partitioned and fenced stops what it still ran.
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
            let expected = try await server.store.virtualMachines(on: host.id).map(\.id)
            _ = try await server.agents.call(.cleanUp(expected: expected), on: host.id)
        } catch {
            logger.error("could not bring a connected agent in line", metadata: ["error": .string("\(error)")])
        }
    }
}
