import Foundation
import HummingbirdWSClient
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

    /// - Parameters:
    ///   - adaptors: the storage adaptors (default: Lunar's iSCSI and local files).
    ///   - faults: injected failures (tests and simulations only).
    public init(configuration: AgentConfiguration, logger: Logger, adaptors: [any StorageAdaptor]? = nil, faults: (any AgentFaultInjector)? = nil) {
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "host.name"] = .string(configuration.hostName)
        self.logger = logger
        self.pools = StoragePoolManager(
            adaptors: adaptors ?? [LunarISCSIAdaptor(initiatorName: configuration.initiatorIQN, logger: logger), LocalFileAdaptor()]
        )
        self.handler = AgentCommandHandler(pools: pools, logger: logger)
        self.faults = faults
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
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
                try? await Task.sleep(for: backoff(afterFailures: failures))
            }
            await handler.shutdown()
        } onGracefulShutdown: {}
    }

    func backoff(afterFailures failures: Int) -> Duration {
        let base = configuration.initialBackoff * Int(1 << min(max(failures - 1, 0), 10))
        let capped = min(base, configuration.maximumBackoff)
        return capped * Double.random(in: 0.5...1.0)
    }

    /// One connection: register, then serve until it closes. Returns whether registration succeeded.
    func session() async throws -> Bool {
        let registration = AgentRegistration(
            token: configuration.token, hostName: configuration.hostName, ipAddress: configuration.ipAddress,
            initiatorIQN: configuration.initiatorIQN, hypervisor: "Simulator", cluster: configuration.cluster,
            cpuCores: configuration.cpuCores, cpuSpeedMHz: configuration.cpuSpeedMHz, memoryBytes: configuration.memoryBytes,
            vms: await handler.reports(), connectedVolumes: await pools.connectedDisks()
        )
        let registered = RegisteredFlag()
        let handler = self.handler
        let pools = self.pools
        let logger = self.logger
        let limit = configuration.maximumConcurrentCommands
        let faults = self.faults
        var clientConfiguration = WebSocketClientConfiguration()
        clientConfiguration.maxFrameSize = AgentMessage.maximumBytes
        try await WebSocketClient.connect(url: configuration.serverURL, configuration: clientConfiguration, logger: logger) { inbound, outbound, _ in
            // Bounded: when the server stops reading (a partition without a reset) the connection is
            // closed and made again rather than queueing heartbeats without end.
            let (stream, sending) = AsyncStream.makeStream(of: AgentMessage.self, bufferingPolicy: .bufferingOldest(1_024))
            let send: @Sendable (AgentMessage) -> Void = { message in
                if case .dropped = sending.yield(message) {
                    sending.finish()
                    Task { try? await outbound.close(.goingAway, reason: "server too slow to read") }
                }
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                // One writer, so answers and heartbeats never interleave mid-message.
                group.addTask {
                    for await message in stream { try await outbound.write(.text(try message.encoded())) }
                }
                send(.register(registration))
                let slots = CommandSlots(limit: limit)
                for try await frame in inbound.messages(maxSize: AgentMessage.maximumBytes) {
                    guard case .text(let text) = frame else { continue }
                    let message: AgentMessage
                    do {
                        message = try AgentMessage.decode(text)
                    } catch {
                        logger.warning("unreadable message from the server", metadata: ["error": .string("\(error)")])
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
                                try await Task.sleep(for: interval)
                                sequence += 1
                                send(.heartbeat(AgentHeartbeat(sequence: sequence, vms: await handler.reports(), connectedVolumes: await pools.connectedDisks())))
                            }
                        }
                    case .refused(let reason):
                        throw AgentRefused(reason: reason)
                    case .command(let id, let command):
                        await slots.acquire()
                        group.addTask {
                            defer { Task { await slots.release() } }
                            switch await faults?.fault(for: command) {
                            case .loseCommand?:
                                return
                            case .refuse?:
                                send(.answer(id: id, answer: .failed(AgentFailure(.internalError, "injected failure"))))
                            case .loseAnswer?:
                                _ = await handler.handle(command)
                            case nil:
                                send(.answer(id: id, answer: await handler.handle(command)))
                            }
                        }
                    case .register, .heartbeat, .answer:
                        logger.warning("unexpected message from the server")
                    }
                }
                sending.finish()
                group.cancelAll()
            }
        }
        return registered.value
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
