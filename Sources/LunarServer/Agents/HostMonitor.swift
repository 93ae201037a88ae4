import Logging
import LunarModel
import LunarStorage
import ServiceLifecycle

/// HA (DESIGN.md flow 8): a host whose agent falls silent is investigated; when the storage
/// confirms it is gone too (its iSCSI sessions are absent or silent), it is fenced — every grant
/// revoked, which drops its sessions — marked Down, and its HA-enabled VMs start on other hosts.
/// A host whose disks are still busy only lost its agent: it is put in Alert and left running.
final class HostMonitor: Service, Sendable {
    let server: ServerContext
    let interval: Duration
    let threshold: Duration
    /// How long agents get to reconnect after the server starts before their hosts are investigated.
    static let reconnectGrace: Duration = .seconds(12)

    /// VMs found half-way at start with no job to settle them.
    let orphans: [VirtualMachineID]

    init(server: ServerContext, heartbeatMilliseconds: Int, missedHeartbeats: Int, orphans: [VirtualMachineID] = []) {
        self.server = server
        self.orphans = orphans
        self.interval = .milliseconds(heartbeatMilliseconds)
        self.threshold = .milliseconds(heartbeatMilliseconds * max(1, missedHeartbeats))
    }

    func run() async throws {
        // The start-up passes run beside the watch, in one task group: nothing outlives run().
        await withDiscardingTaskGroup { group in
            group.addTask { await self.settleOrphans() }
            group.addTask { await self.reconcileAtStart() }
            // Retrying failed fences runs beside the watch: a slow one never holds up detection.
            group.addTask { await self.refenceLoop() }
            await watch()
            group.cancelAll()
        }
    }

    /// VMs a crash left half-way with no job to finish them: settled one by one.
    func settleOrphans() async {
        for id in orphans where !Task.isCancelled {
            do {
                let settled = try await server.vmLocks.withLock(id) { () -> VirtualMachine? in
                    guard let vm = try await server.store.virtualMachine(id) else { return nil }
                    return try await VMRecovery(server: server).settle(vm)
                }
                guard let settled else { continue }
                server.logger.notice("settled a VM a restart left half-way", metadata: ["vm.id": .string(id.uuid), "vm.state": .string(settled.state.rawValue)])
            } catch {
                server.logger.error("could not settle a VM a restart left half-way", metadata: ["vm.id": .string(id.uuid), "error": .string("\(error)")])
            }
        }
    }

    /// After a restart: take away storage access no grant justifies (flow 10), once the storage
    /// answers (in `lunar up` it starts beside the server); 30 tries a second apart.
    func reconcileAtStart() async {
        for attempt in 1...30 {
            do {
                let findings = try await AccessReconciler(server: server).run(dryRun: false)
                if !findings.isEmpty { server.logger.notice("start-up reconciliation", metadata: ["findings": .stringConvertible(findings.count)]) }
                return
            } catch {
                if attempt == 30 { server.logger.error("start-up reconciliation failed", metadata: ["error": .string("\(error)")]) }
            }
            do {
                try await server.clock.sleep(for: .seconds(1))
            } catch {
                return  // cancelled: the server is stopping
            }
        }
    }

    /// Every ten beats: fence again what a failed fence left (VMs in Error, grants nothing justifies).
    func refenceLoop() async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await server.clock.sleep(for: interval * 10)
            } catch {
                return  // cancelled: the server is stopping
            }
            await Self.refence(server: server)
        }
    }

    /// The HA watch: every beat, each host's silence is checked against the threshold.
    func watch() async {
        let clock = ClockReader(server.clock)
        let started = clock.now
        var silentSince: [HostID: Duration] = [:]
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await server.clock.sleep(for: interval)
            } catch {
                break  // cancelled: the server is stopping
            }
            let hosts: [LunarModel.Host]
            do {
                hosts = try await server.store.allHosts()
            } catch {
                server.logger.warning("the HA monitor could not read the hosts", metadata: ["error": .string("\(error)")])
                continue
            }
            for host in hosts where [.up, .disconnected, .alert].contains(host.state) {
                if let silence = await server.agents.silence(of: host.id), silence < threshold {
                    silentSince[host.id] = nil
                    continue
                }
                let since = silentSince[host.id] ?? (host.state == .up ? started : clock.now)
                silentSince[host.id] = since
                guard clock.now - since >= threshold, await server.agents.silence(of: host.id).map({ $0 >= threshold }) ?? true else { continue }
                // After a server restart, agents come back at their own pace (their back-off
                // reaches 5 s): a host not heard since the start gets that long too.
                if await server.agents.silence(of: host.id) == nil, clock.now - started < threshold + Self.reconnectGrace { continue }
                await investigate(host)
            }
        }
    }

    /// Asks the storage whether the host still does I/O; fences it when it does not.
    func investigate(_ host: LunarModel.Host) async {
        var logger = server.logger
        logger[metadataKey: "host.id"] = .string(host.id.uuid)
        let thresholdMilliseconds = Int(threshold.components.seconds * 1000 + threshold.components.attoseconds / 1_000_000_000_000_000)
        do {
            for pool in try await server.store.pools(zoneID: host.zoneID) where pool.isManaged {
                guard let (stored, details) = try await server.store.poolDescriptor(pool.id) else { continue }
                let provider = try server.providers.require(pool.provider)
                if let activity = try await provider.activity(of: host.descriptor, in: stored.descriptor(details: details)), activity.sessions > 0,
                    let idle = activity.idleMilliseconds, idle < thresholdMilliseconds
                {
                    if host.state != .alert {
                        logger.warning("the host's agent is silent but its disks are busy: Alert, not fenced", metadata: ["san.idle_ms": .stringConvertible(idle)])
                        try await server.store.setHostState(host.id, .alert)
                    }
                    return
                }
            }
        } catch {
            // The storage cannot answer: fencing goes through the same storage, so wait for it.
            logger.error("could not investigate a silent host", metadata: ["error": .string("\(error)")])
            return
        }
        logger.warning("the host is gone (agent and storage silent): fencing it")
        await Self.fence(host, server: server)
    }

    /// Revokes every grant the host holds, recovers its VMs, then marks it Down. Until all of that
    /// is done the host is Alert, so an interrupted fence (a failure, a server crash) is tried again.
    static func fence(_ host: LunarModel.Host, server: ServerContext) async {
        let access = AccessService(server: server)
        do {
            try await server.store.setHostState(host.id, .alert)
            for grant in try await server.store.grants(host: host.id) {
                guard let volume = try await server.store.volume(grant.volumeID) else { continue }
                try await access.revoke(volume, from: host)
            }
            for vm in try await server.store.virtualMachines(on: host.id) {
                try await server.vmLocks.withLock(vm.id) {
                    // Look again: a job may have moved it while we waited for its turn.
                    guard let current = try await server.store.virtualMachine(vm.id), current.hostID == host.id || current.migrationHostID == host.id else { return }
                    await recover(current, lostOn: host, server: server)
                }
            }
            try await server.store.setHostState(host.id, .down)
        } catch {
            server.logger.error("fencing did not finish; the next check tries again", metadata: ["host.id": .string(host.id.uuid), "error": .string("\(error)")])
        }
    }

    /// A VM whose host lost it: a migration to the lost host goes back to its source; anything
    /// else is fenced on every host it held, Stopped (lost) and, if HA-enabled, started elsewhere.
    /// Call it holding the VM's turn (`vmLocks`). A fence that fails leaves it in Error (retried
    /// by `refence`), never restarted elsewhere.
    static func recover(_ vm: VirtualMachine, lostOn host: LunarModel.Host, server: ServerContext) async {
        let service = VMService(server: server)
        do {
            let volumes = try await server.store.volumes(of: vm.id)
            do {
                try await service.fence(volumes, from: host)
                if vm.state == .migrating, vm.migrationHostID == host.id {
                    _ = try await server.store.transitionVirtualMachine(vm.id, .migrationRolledBack, fenced: [host.id])
                    return
                }
                try await service.lose(vm.id)
            } catch let failure as FenceError {
                server.logger.error("could not fence a lost VM's disks; it is not restarted elsewhere", metadata: ["vm.id": .string(vm.id.uuid), "error": .string("\(failure)")])
                _ = try await server.store.transitionVirtualMachine(vm.id, .fenceFailed)
                try await server.store.setHostState(host.id, .alert)
                return
            }
            guard vm.haEnabled else { return }
            // A disk on unmanaged storage (`local`) cannot be fenced: the lost host may still be
            // writing it, so the VM is not started elsewhere.
            for volume in volumes {
                if let poolID = volume.poolID, let pool = try await server.store.storagePool(poolID), !pool.isManaged {
                    server.logger.error("HA does not restart a VM with a disk on unmanaged storage (it cannot be fenced)", metadata: ["vm.id": .string(vm.id.uuid), "pool": .string(pool.name)])
                    return
                }
            }
            try await submitRestart(vm, server: server)
        } catch {
            server.logger.error("HA could not recover a VM", metadata: ["vm.id": .string(vm.id.uuid), "error": .string("\(error)")])
        }
    }

    /// VMs in Error that still hold hosts (a fence that did not take): fence them again, so a
    /// failed fence is retried until the storage answers, then they are Stopped. Grants no VM
    /// justifies any more (an undo whose fence failed) are fenced too.
    static func refence(server: ServerContext) async {
        await fenceUnjustifiedGrants(server: server)
        do {
            for vm in try await server.store.allVirtualMachines() where vm.state == .error && (vm.hostID != nil || vm.migrationHostID != nil) {
                try await server.vmLocks.withLock(vm.id) {
                    guard let current = try await server.store.virtualMachine(vm.id), current.state == .error else { return }
                    let settled = try await VMRecovery(server: server).settle(current)
                    server.logger.notice("fenced a VM left in Error by a failed fence", metadata: ["vm.id": .string(vm.id.uuid), "vm.state": .string(settled.state.rawValue)])
                    // An HA VM that had to be stopped starts again elsewhere (the job waits for this turn).
                    if settled.state == .stopped, settled.haEnabled { try await submitRestart(settled, server: server) }
                }
            }
        } catch {
            server.logger.warning("a VM in Error could not be fenced yet; trying again later", metadata: ["error": .string("\(error)")])
        }
    }

    /// A grant is justified while its job runs, or while the volume's VM runs on (or is migrating
    /// to) the grant's host. Others are fenced and their records go — under the VM's turn, so a
    /// flow that is about to use the grant is never undercut.
    static func fenceUnjustifiedGrants(server: ServerContext) async {
        do {
            for grant in try await server.store.grants() {
                if grant.jobID == VolumeGrant.administrative { continue }
                if let job = grant.jobID, let jobID = JobID(job), try await server.store.job(jobID)?.status == .pending { continue }
                guard let volume = try await server.store.volume(grant.volumeID), let host = try await server.store.host(grant.hostID) else { continue }
                @Sendable func unjustified() async throws -> Bool {
                    // Read again: an attach may have recorded a new grant for the same host since.
                    guard let current = try await server.store.volume(grant.volumeID),
                        let now = try await server.store.grants(volume: grant.volumeID, host: grant.hostID).first
                    else { return false }
                    if now.jobID == VolumeGrant.administrative { return false }
                    if let job = now.jobID, let jobID = JobID(job), try await server.store.job(jobID)?.status == .pending { return false }
                    guard let vmID = current.virtualMachineID, let vm = try await server.store.virtualMachine(vmID) else { return true }
                    return vm.hostID != grant.hostID && vm.migrationHostID != grant.hostID
                }
                let fence: @Sendable () async throws -> Void = {
                    guard try await unjustified() else { return }
                    server.logger.notice("fencing a grant no VM justifies", metadata: ["volume.id": .string(grant.volumeID.uuid), "host.id": .string(grant.hostID.uuid)])
                    try await VMService(server: server).fence([volume], from: host)
                }
                if let vmID = volume.virtualMachineID { try await server.vmLocks.withLock(vmID, fence) } else { try await fence() }
            }
        } catch {
            server.logger.warning("grants no VM justifies could not be fenced yet; trying again later", metadata: ["error": .string("\(error)")])
        }
    }

    /// Starts an HA-enabled VM elsewhere as an async job of the root admin's, so the restart is
    /// journaled step by step and resumed (or undone) after a server crash like any start. The
    /// job takes the VM's turn when it runs; the caller may hold it now.
    static func submitRestart(_ vm: VirtualMachine, server: ServerContext) async throws {
        guard let command = server.commands["startVirtualMachine"], case .async(let prepare) = command.execution,
            let caller = try await server.store.rootAdministrator()
        else { throw LunarError(.internalError, "the server cannot run an HA restart: no startVirtualMachine or root admin") }
        let call = APICall(command: command, parameters: APIParameters(values: ["id": vm.id.uuid]), caller: caller, server: server)
        let job = try await server.jobs.submit(call: call, plan: try await prepare(call))
        server.logger.notice("HA restarting a VM", metadata: ["vm.id": .string(vm.id.uuid), "job.id": .string(job.uuid)])
    }
}
