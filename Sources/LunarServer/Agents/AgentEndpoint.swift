import Crypto
import Foundation
import HummingbirdWebSocket
import ISCSI
import Logging
import LunarModel
import LunarWire
import ServiceLifecycle
import Synchronization

/// Serves one agent's WebSocket: checks its registration, records its host, relays answers and
/// heartbeats to the gateway, and marks the host Disconnected when the connection goes.
struct AgentEndpoint: Sendable {
    let server: ServerContext
    static let tokenSetting = "agent_registration_token_sha256"
    /// Messages waiting for a slow agent before its connection is closed.
    static let outboundBacklog = 1_024

    /// Serves one agent over a WebSocket.
    func serve(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, logger: Logger) async throws {
        let messages = inbound.messages(maxSize: AgentMessage.maximumBytes).map { frame -> AgentMessage? in
            guard case .text(let text) = frame else { return nil }
            return try? AgentMessage.decode(text)
        }
        try await serve(
            messages,
            write: { message in try await outbound.write(.text(try message.encoded())) },
            close: { reason in
                do {
                    try await outbound.close(.goingAway, reason: reason)
                } catch {
                    // Already closed by the other side.
                }
            },
            logger: logger
        )
    }

    /// Serves one agent over any carrier (a WebSocket; memory in simulations): `inbound` yields
    /// each message (nil for one that could not be read), `write` sends one, `close` ends the
    /// connection. Every task it starts is a child of this call: nothing outlives the connection.
    func serve<Inbound: AsyncSequence>(
        _ inbound: Inbound, write: @escaping @Sendable (AgentMessage) async throws -> Void, close: @escaping @Sendable (String) async -> Void, logger: Logger
    ) async throws where Inbound.Element == AgentMessage? {
        // Bounded: an agent that stops reading (a partition without a reset) is dropped, not queued for.
        let (stream, sending) = AsyncStream.makeStream(of: AgentMessage.self, bufferingPolicy: .bufferingOldest(Self.outboundBacklog))
        let server = self.server
        let closing = CloseReason("agent too slow to read")
        try await withThrowingTaskGroup(of: Void.self) { group in
            // One writer; once the stream is finished (a refusal sent, the backlog overflowed, the
            // session over) it closes the connection.
            group.addTask {
                for await message in stream { try await write(message) }
                await close(closing.value)
            }
            // At shutdown, agents stay connected until running jobs finish, then their connections close.
            group.addTask {
                try await awaitGracefulShutdown()
                await server.jobs.waitForRunningJobs(upTo: JobRunner.shutdownGrace + .seconds(1))
                await close("server stopping")
            }
            var host: LunarModel.Host?
            var token: UInt64 = 0
            defer { sending.finish() }
            var receiveError: (any Error)?
            do {
                for try await message in inbound {
                    guard let message else {
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
                                if case .dropped = sending.yield(message) { sending.finish() }
                            })
                            sending.yield(.registered(RegistrationAccepted(hostID: registered.id, heartbeatIntervalMilliseconds: server.agentHeartbeatMilliseconds)))
                            logger.info("agent registered", metadata: ["host.id": .string(registered.id.uuid), "host.name": .string(registered.name)])
                            group.addTask { await HostSynchronizer(server: server).agentConnected(registered, report: registration) }
                        } catch {
                            logger.warning("agent refused", metadata: ["host.name": .string(registration.hostName), "error": .string("\(error)")])
                            closing.value = "refused"
                            sending.yield(.refused(reason: "\(error)"))
                        }
                    case .heartbeat(let beat):
                        guard let host else { continue }
                        await server.agents.heard(host: host.id, token: token)
                        if await server.agents.beginSweep(host.id) {
                            group.addTask { await Self.sweep(host, beat: beat, server: server) }
                        }
                    case .answer(let id, let answer):
                        guard let host else { continue }
                        await server.agents.answer(host: host.id, token: token, id: id, answer)
                    case .registered, .refused, .command:
                        logger.warning("unexpected message from an agent")
                    }
                    if host == nil, case .register = message { break }
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
            if host == nil {
                // Refused (or gone before registering): the writer sends what is queued and closes.
                sending.finish()
                do {
                    try await group.next()
                } catch {
                    logger.notice("could not send the refusal", metadata: ["error": .string("\(error)")])
                }
            }
            group.cancelAll()
            if let receiveError { logger.notice("agent connection failed", metadata: ["error": .string("\(receiveError)")]) }
        }
    }

    /// One heartbeat's sweep (at most one per host at a time, `beginSweep`).
    static func sweep(_ host: LunarModel.Host, beat: AgentHeartbeat, server: ServerContext) async {
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

    /// Checks the token and records the host; throws a reason to refuse.
    func register(_ registration: AgentRegistration) async throws -> LunarModel.Host {
        guard let expected = try await server.store.setting(Self.tokenSetting), Self.hash(registration.token) == expected else {
            throw LunarError.refused("wrong registration token")
        }
        guard let iqn = ISCSIName.normalized(registration.initiatorIQN) else { throw LunarError.refused("not an iSCSI initiator name: \(registration.initiatorIQN)") }
        guard let hypervisor = HypervisorType(caseInsensitive: registration.hypervisor) else {
            throw LunarError.refused("hypervisor \(registration.hypervisor) is not supported")
        }
        let clusters = try await server.store.clusters(id: nil, zoneID: nil, podID: nil, name: nil, hypervisor: nil, keyword: nil, window: .all).items
        let cluster: Cluster?
        if let wanted = registration.cluster {
            cluster = clusters.first { $0.id.uuid == wanted.lowercased() || $0.name == wanted }
        } else {
            cluster = clusters.first { $0.hypervisor == hypervisor }
        }
        guard let cluster else { throw LunarError.refused("no cluster \(registration.cluster ?? "of hypervisor \(hypervisor.rawValue)") to join") }
        guard cluster.hypervisor == hypervisor else {
            throw LunarError.refused("cluster \(cluster.name) is \(cluster.hypervisor.rawValue); a \(hypervisor.rawValue) host cannot join it")
        }
        var host = LunarModel.Host(
            id: .random(), name: registration.hostName, zoneID: cluster.zoneID, podID: cluster.podID, clusterID: cluster.id, hypervisor: hypervisor,
            ipAddress: registration.ipAddress, initiatorIQN: iqn, state: .up, resourceState: .enabled, cpuCores: registration.cpuCores,
            cpuSpeedMHz: registration.cpuSpeedMHz, memoryBytes: registration.memoryBytes, lastPingedEpochSeconds: server.time.nowEpochSeconds(),
            createdEpochSeconds: server.time.nowEpochSeconds()
        )
        host.accel = registration.accel
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

/// Why the writer closes a connection (set before the outbound stream ends).
final class CloseReason: Sendable {
    private let reason: Mutex<String>
    init(_ initial: String) { reason = Mutex(initial) }
    var value: String {
        get { reason.withLock { $0 } }
        set { reason.withLock { $0 = newValue } }
    }
}
