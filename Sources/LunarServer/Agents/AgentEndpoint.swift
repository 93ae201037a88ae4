import Crypto
import Foundation
import HummingbirdWebSocket
import ISCSI
import Logging
import LunarModel
import LunarWire
import ServiceLifecycle

/// Serves one agent's WebSocket: checks its registration, records its host, relays answers and
/// heartbeats to the gateway, and marks the host Disconnected when the connection goes.
struct AgentEndpoint: Sendable {
    let server: ServerContext
    static let tokenSetting = "agent_registration_token_sha256"
    /// Messages waiting for a slow agent before its connection is closed.
    static let outboundBacklog = 1_024

    func serve(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, logger: Logger) async throws {
        // Bounded: an agent that stops reading (a partition without a reset) is dropped, not queued for.
        let (stream, sending) = AsyncStream.makeStream(of: AgentMessage.self, bufferingPolicy: .bufferingOldest(Self.outboundBacklog))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await message in stream { try await outbound.write(.text(try message.encoded())) }
            }
            var host: LunarModel.Host?
            var token: UInt64 = 0
            defer { sending.finish() }
            // Agents would hold the server open at shutdown: close their connections first.
            var receiveError: (any Error)?
            do {
            try await withGracefulShutdownHandler {
            for try await frame in inbound.messages(maxSize: AgentMessage.maximumBytes) {
                guard case .text(let text) = frame, let message = try? AgentMessage.decode(text) else {
                    logger.warning("unreadable agent message")
                    continue
                }
                switch message {
                case .register(let registration):
                    guard host == nil else { continue }
                    do {
                        let registered = try await register(registration)
                        host = registered
                        token = await server.agents.open(host: registered.id, send: { message in
                            if case .dropped = sending.yield(message) {
                                sending.finish()
                                Task { try? await outbound.close(.goingAway, reason: "agent too slow to read") }
                            }
                        })
                        sending.yield(.registered(RegistrationAccepted(hostID: registered.id, heartbeatIntervalMilliseconds: server.agentHeartbeatMilliseconds)))
                        logger.info("agent registered", metadata: ["host.id": .string(registered.id.uuid), "host.name": .string(registered.name)])
                        let server = self.server
                        Task { await HostSynchronizer(server: server).agentConnected(registered, report: registration) }
                    } catch {
                        logger.warning("agent refused", metadata: ["host.name": .string(registration.hostName), "error": .string("\(error)")])
                        sending.yield(.refused(reason: "\(error)"))
                        sending.finish()
                        try? await group.next()
                        try await outbound.close(.policyViolation, reason: "refused")
                        return
                    }
                case .heartbeat(let beat):
                    guard let host else { continue }
                    await server.agents.heard(host: host.id, token: token)
                    if await server.agents.beginSweep(host.id) {
                        let server = self.server
                        Task {
                            do {
                                try await server.store.touchHost(host.id)
                                try await HostSynchronizer(server: server).sweep(host, reportedVMs: beat.vms.map(\.id), connected: beat.connectedVolumes)
                                // A host heard again after a partition (same connection) is Up once swept.
                                if let current = try await server.store.host(host.id), current.state != .up {
                                    try await server.store.setHostState(host.id, .up)
                                    server.logger.notice("host heard again", metadata: ["host.id": .string(host.id.uuid)])
                                }
                            } catch {
                                // The next beat sweeps again.
                                server.logger.warning("a heartbeat sweep failed", metadata: ["host.id": .string(host.id.uuid), "error": .string("\(error)")])
                            }
                            await server.agents.endSweep(host.id)
                        }
                    }
                case .answer(let id, let answer):
                    guard let host else { continue }
                    await server.agents.answer(host: host.id, token: token, id: id, answer)
                case .registered, .refused, .command:
                    logger.warning("unexpected message from an agent")
                }
            }
            } onGracefulShutdown: { [server] in
                Task {
                    await server.jobs.waitForRunningJobs(upTo: JobRunner.shutdownGrace + .seconds(1))
                    try? await outbound.close(.goingAway, reason: "server stopping")
                }
            }
            } catch {
                // A reset or an oversized frame: tear the session down all the same, below.
                receiveError = error
            }
            if let host, await server.agents.close(host: host.id, token: token) {
                do {
                    if try await server.store.host(host.id)?.state == .up { try await server.store.setHostState(host.id, .disconnected) }
                } catch {
                    // HA's watch sees the silence all the same.
                    logger.error("could not mark a host Disconnected", metadata: ["host.id": .string(host.id.uuid), "error": .string("\(error)")])
                }
                logger.notice("agent disconnected", metadata: ["host.id": .string(host.id.uuid)])
            }
            group.cancelAll()
            if let receiveError { logger.notice("agent connection failed", metadata: ["error": .string("\(receiveError)")]) }
        }
    }

    /// Checks the token and records the host; throws a reason to refuse.
    func register(_ registration: AgentRegistration) async throws -> LunarModel.Host {
        guard let expected = try await server.store.setting(Self.tokenSetting), Self.hash(registration.token) == expected else {
            throw LunarError.refused("wrong registration token")
        }
        guard let iqn = ISCSIName.normalized(registration.initiatorIQN) else { throw LunarError.refused("not an iSCSI initiator name: \(registration.initiatorIQN)") }
        guard HypervisorType(caseInsensitive: registration.hypervisor) == .simulator else {
            throw LunarError.refused("hypervisor \(registration.hypervisor) is not supported yet")
        }
        let clusters = try await server.store.clusters(id: nil, zoneID: nil, podID: nil, name: nil, hypervisor: nil, keyword: nil, window: .all).items
        let cluster: Cluster?
        if let wanted = registration.cluster {
            cluster = clusters.first { $0.id.uuid == wanted.lowercased() || $0.name == wanted }
        } else {
            cluster = clusters.first { $0.hypervisor == .simulator }
        }
        guard let cluster else { throw LunarError.refused("no cluster \(registration.cluster ?? "of hypervisor Simulator") to join") }
        let host = LunarModel.Host(
            id: .random(), name: registration.hostName, zoneID: cluster.zoneID, podID: cluster.podID, clusterID: cluster.id, hypervisor: .simulator,
            ipAddress: registration.ipAddress, initiatorIQN: iqn, state: .up, resourceState: .enabled, cpuCores: registration.cpuCores,
            cpuSpeedMHz: registration.cpuSpeedMHz, memoryBytes: registration.memoryBytes, lastPingedEpochSeconds: server.time.nowEpochSeconds(),
            createdEpochSeconds: server.time.nowEpochSeconds()
        )
        do {
            return try await server.store.registerHost(host)
        } catch {
            throw LunarError.refused("host \(registration.hostName) conflicts with another host's initiator name \(iqn)")
        }
    }

    static func hash(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
