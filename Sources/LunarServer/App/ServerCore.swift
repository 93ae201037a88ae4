import Foundation
import Logging
import LunarModel
import LunarStorage
import LunarWire

/// The management server without its listeners: the context every command and flow reaches, the
/// background services (jobs, HA), the API as a function and the agent endpoint as a function.
/// `LunarServerApp` puts HTTP and WebSockets in front of it; deterministic simulations drive it
/// directly, over memory, on a manual clock.
public struct ServerCore: Sendable {
    public let server: ServerContext
    public let dispatcher: APIDispatcher
    let endpoint: AgentEndpoint
    let monitor: HostMonitor
    let folder: DataFolder
    public let rootKeys: UserKeys

    /// Opens the data folder, makes the root admin on first start, and recovers unfinished jobs
    /// (queued, to run once `runServices` runs).
    public static func make(
        configuration: ServerConfiguration, database: Database, time: any TimeSource = SystemTimeSource(), clock: any Clock<Duration> = ContinuousClock(),
        extraCommands: [APICommand] = [], extraProviders: [any StorageProvider] = [], stepFaults: (any StepFaults)? = nil, logger: Logger
    ) async throws -> ServerCore {
        let folder = DataFolder(path: configuration.dataDirectory)
        try folder.create()
        let secrets = try ServerSecrets.loadOrCreate(path: folder.file(ServerSecrets.fileName))
        let store = Store(database: database, time: time, secrets: secrets)

        var generator = SystemRandomNumberGenerator()
        let password = Base64URL.encode((0..<24).map { _ in UInt8.random(in: 0...255, using: &generator) })
        let (rootKeys, created) = try await store.bootstrapRootAdmin(password: password)
        try folder.writeJSON(rootKeys, to: LunarEndpoints.adminKeysFileName, permissions: 0o600)
        if created {
            // The console's sign-in (user `admin`): the generated password, readable by its owner only.
            try folder.write(Data((password + "\n").utf8), to: "admin-password", permissions: 0o600)
            logger.info("created the root admin account", metadata: ["file": .string(folder.file(LunarEndpoints.adminKeysFileName))])
        }

        let jobs = JobRunner(
            store: store, logger: logger,
            limits: .init(maximumUnfinishedJobs: configuration.maximumUnfinishedJobs, maximumConcurrentJobs: configuration.maximumConcurrentJobs),
            faults: stepFaults, clock: clock
        )
        let commands = CommandTable(
            AccountCommands.all + InfrastructureCommands.all + JobCommands.all + DiscoveryCommands.all + OfferingCommands.all
                + TemplateCommands.all + PoolCommands.all + VolumeCommands.all + AccessCommands.all + VMCommands.all + HostCommands.all + NetworkCommands.all + ConfigurationCommands.all
                + extraCommands
        )
        let providers = StorageProviderRegistry([LocalStorageProvider(), LunarStorageProvider()] + extraProviders)
        let agents = AgentGateway(logger: logger, clock: clock, timeoutScale: configuration.agentTimeoutScale)
        let server = ServerContext(
            store: store, jobs: jobs, time: time, clock: clock, logger: logger, commands: commands, providers: providers, agents: agents,
            agentHeartbeatMilliseconds: configuration.agentHeartbeatMilliseconds,
            templates: TemplateDownloads(
                store: store, secondaryStorage: configuration.secondaryStorageDirectory ?? folder.file("secondary"),
                maximumBytes: configuration.maximumTemplateBytes, logger: logger
            ),
            rootKeysChanged: { old, new in
                // Keep admin-keys.json in step when the key pair it holds is replaced.
                guard let current = try? folder.readJSON(UserKeys.self, from: LunarEndpoints.adminKeysFileName), current.apiKey == old.apiKey else {
                    return
                }
                do {
                    try folder.writeJSON(new, to: LunarEndpoints.adminKeysFileName, permissions: 0o600)
                } catch {
                    logger.error("could not update the admin keys file", metadata: ["error": .string("\(error)")])
                }
            }
        )
        try await AgentToken.ensure(store: store, folder: folder, logger: logger)
        // VMs a crash left half-way with no job to finish them (an HA restart runs outside jobs).
        let resumedVMs = Set(try await store.pendingJobs().compactMap { $0.instanceType == "VirtualMachine" ? $0.instanceID : nil })
        let orphans = try await store.allVirtualMachines().filter { [.starting, .stopping, .migrating].contains($0.state) && !resumedVMs.contains($0.id.uuid) }
        try await jobs.recover(using: commands, server: server)
        let monitor = HostMonitor(
            server: server, heartbeatMilliseconds: configuration.agentHeartbeatMilliseconds,
            missedHeartbeats: configuration.missedHeartbeatsBeforeInvestigation, orphans: orphans.map(\.id)
        )
        return ServerCore(
            server: server, dispatcher: APIDispatcher(server: server, commands: commands), endpoint: AgentEndpoint(server: server), monitor: monitor,
            folder: folder, rootKeys: rootKeys
        )
    }

    /// Runs the job runner and the HA monitor until cancelled (or, in a service group, shut down):
    /// what deterministic simulations run. Template downloads (real HTTP, real time) are a
    /// service of `LunarServerApp` only, so they never perturb a simulation's schedule.
    public func runServices() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await server.jobs.run() }
            group.addTask { try await monitor.run() }
        }
    }

    /// Serves one agent connection over any carrier: `inbound` yields its messages (nil for one
    /// that could not be read), `write` sends one, `close` ends the connection.
    public func serveAgent<Inbound: AsyncSequence>(
        _ inbound: Inbound, write: @escaping @Sendable (AgentMessage) async throws -> Void, close: @escaping @Sendable (String) async -> Void, logger: Logger
    ) async throws where Inbound.Element == AgentMessage? {
        try await endpoint.serve(inbound, write: write, close: close, logger: logger)
    }
}
