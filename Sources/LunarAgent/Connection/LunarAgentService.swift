import Foundation
import Logging
import LunarModel
import LunarWire
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// `lunar agent`: connects out to the server, registers, heartbeats, carries out commands, and
/// reconnects with back-off when the connection goes. It holds nothing the adaptors cannot tell
/// again after a restart.
public final class LunarAgentService: Service, Sendable {
    public let configuration: AgentConfiguration
    public let handler: AgentCommandHandler
    public let pools: StoragePoolManager
    let logger: Logger
    let faults: (any AgentFaultInjector)?
    let transport: any AgentTransport
    /// What heartbeats and back-off sleep on (a manual clock in simulations).
    let clock: any Clock<Duration>

    /// - Parameters:
    ///   - adaptors: the storage adaptors (default: Lunar's iSCSI and local files).
    ///   - faults: injected failures (tests and simulations only).
    ///   - transport: how to reach the server (default: a WebSocket to `configuration.serverURL`).
    public init(
        configuration: AgentConfiguration, logger: Logger, adaptors: [any StorageAdaptor]? = nil, faults: (any AgentFaultInjector)? = nil,
        transport: (any AgentTransport)? = nil, clock: any Clock<Duration> = ContinuousClock(), hypervisor: (@Sendable (StoragePoolManager, Logger) -> any Hypervisor)? = nil
    ) {
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "host.name"] = .string(configuration.hostName)
        self.logger = logger
        self.pools = StoragePoolManager(
            adaptors: adaptors ?? [LunarISCSIAdaptor(initiatorName: configuration.initiatorIQN, logger: logger), LocalFileAdaptor()]
        )
        self.handler = AgentCommandHandler(pools: pools, hypervisor: hypervisor?(pools, logger), logger: logger)
        self.faults = faults
        self.transport = transport ?? WebSocketAgentTransport(url: configuration.serverURL)
        self.clock = clock
    }

    public func run() async throws {
        await handler.hypervisor.adoptRunningGuests()
        var failures = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let registered = try await session()
                failures = registered ? 0 : failures + 1
            } catch let refusal as AgentRefused {
                logger.error("the server refused this agent", metadata: ["reason": .string(refusal.reason)])
                failures += 1
            } catch {
                logger.warning("connection to the server failed", metadata: ["error": .string("\(error)")])
                failures += 1
            }
            if Task.isShuttingDownGracefully || Task.isCancelled { break }
            do {
                try await clock.sleep(for: backoff(afterFailures: failures))
            } catch {
                break  // cancelled: the agent is stopping
            }
        }
        await handler.shutdown()
    }

    func backoff(afterFailures failures: Int) -> Duration {
        let base = configuration.initialBackoff * Int(1 << min(max(failures - 1, 0), 10))
        let capped = min(base, configuration.maximumBackoff)
        return capped * Deterministic.double(in: 0.5...1.0)
    }

    /// One connection: register, then serve until it closes. Returns whether registration succeeded.
    func session() async throws -> Bool {
        let registration = AgentRegistration(
            token: configuration.token, hostName: configuration.hostName, ipAddress: configuration.ipAddress,
            initiatorIQN: configuration.initiatorIQN, hypervisor: handler.hypervisor.name, cluster: configuration.cluster,
            cpuCores: configuration.cpuCores, cpuSpeedMHz: configuration.cpuSpeedMHz, memoryBytes: configuration.memoryBytes,
            vms: await handler.reports(), connectedVolumes: await handler.connectedVolumes(), accel: handler.hypervisor.accel
        )
        let session = AgentSession(
            registration: registration, handler: handler, pools: pools, logger: logger, commandLimit: configuration.maximumConcurrentCommands,
            faults: faults, clock: clock
        )
        try await transport.connect(session, logger: logger)
        return session.registered.value
    }
}

/// One connection's life on the agent: registers, heartbeats, and carries out commands, over
/// whatever carrier the transport made. Every task it starts is a child of `run`.
public struct AgentSession: Sendable {
    let registration: AgentRegistration
    let handler: AgentCommandHandler
    let pools: StoragePoolManager
    let logger: Logger
    let commandLimit: Int
    let faults: (any AgentFaultInjector)?
    let clock: any Clock<Duration>
    let registered = RegisteredFlag()

    /// Serves the connection: `inbound` yields the server's messages (nil for one that could not be
    /// read), `write` sends one, `close` ends the connection.
    public func run<Inbound: AsyncSequence>(
        _ inbound: Inbound, write: @escaping @Sendable (AgentMessage) async throws -> Void, close: @escaping @Sendable (String) async -> Void
    ) async throws where Inbound.Element == AgentMessage? {
        let (handler, pools, logger, faults, clock, registered) = (self.handler, self.pools, self.logger, self.faults, self.clock, self.registered)
        // Bounded: when the server stops reading (a partition without a reset) the connection is
        // closed and made again rather than queueing heartbeats without end.
        let (stream, sending) = AsyncStream.makeStream(of: AgentMessage.self, bufferingPolicy: .bufferingOldest(1_024))
        let send: @Sendable (AgentMessage) -> Void = { message in
            if case .dropped = sending.yield(message) { sending.finish() }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            // One writer, so answers and heartbeats never interleave mid-message; it closes the
            // connection once its stream ends (the backlog overflowed, or the session is over).
            group.addTask {
                for await message in stream { try await write(message) }
                await close("server too slow to read")
            }
            send(.register(registration))
            let slots = CommandSlots(limit: commandLimit)
            for try await message in inbound {
                guard let message else {
                    logger.warning("unreadable message from the server")
                    continue
                }
                switch message {
                case .registered(let accepted):
                    registered.set()
                    logger.info("registered with the server", metadata: ["host.id": .string(accepted.hostID.uuid)])
                    let interval = Duration.milliseconds(max(50, accepted.heartbeatIntervalMilliseconds))
                    group.addTask {
                        var sequence: UInt64 = 0
                        while !Task.isCancelled {
                            try await clock.sleep(for: interval)
                            sequence += 1
                            send(.heartbeat(AgentHeartbeat(sequence: sequence, vms: await handler.reports(), connectedVolumes: await handler.connectedVolumes())))
                        }
                    }
                case .refused(let reason):
                    throw AgentRefused(reason: reason)
                case .command(let id, let command):
                    await slots.acquire()
                    group.addTask {
                        switch await faults?.fault(for: command) {
                        case .loseCommand?:
                            break
                        case .refuse?:
                            send(.answer(id: id, answer: .failed(AgentFailure(.internalError, "injected failure"))))
                        case .loseAnswer?:
                            _ = await handler.handle(command)
                        case nil:
                            send(.answer(id: id, answer: await handler.handle(command)))
                        }
                        await slots.release()
                    }
                case .register, .heartbeat, .answer:
                    logger.warning("unexpected message from the server")
                }
            }
            sending.finish()
            group.cancelAll()
        }
    }
}

/// The server said no (bad token, unknown cluster): worth a log line, then the usual back-off.
struct AgentRefused: Error {
    let reason: String
}

/// A bound on commands carried out at once.
actor CommandSlots {
    let limit: Int
    var inUse = 0
    var waiting: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) { self.limit = limit }

    func acquire() async {
        if inUse < limit {
            inUse += 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty { inUse -= 1 } else { waiting.removeFirst().resume() }
    }
}

final class RegisteredFlag: Sendable {
    let flag = Mutex(false)
    func set() { flag.withLock { $0 = true } }
    var value: Bool { flag.withLock { $0 } }
}
