import ArgumentParser
import Foundation
import Hummingbird
import Logging
import LunarSAN
import LunarServer
import ServiceLifecycle

/// Flags shared by the commands that run roles.
struct RoleOptions: ParsableArguments {
    @Option(name: .long, help: "The data folder (database, keys, endpoints.json).")
    var data: String?

    @Option(name: .long, help: "The API port; 0 picks a free one (see endpoints.json).")
    var port: Int?

    @Option(name: .long, help: "The address to listen on.")
    var bind: String?

    @Option(name: .long, help: "A JSON config file (keys: data, bind, port, database, ...); flags override it.")
    var config: String?

    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    func serverConfiguration(defaultPort: Int) throws -> ServerConfiguration {
        var configuration: ServerConfiguration
        if let config {
            do {
                configuration = try ServerConfiguration.load(path: config)
            } catch {
                throw ValidationError("cannot read config file \(config): \(error)")
            }
        } else {
            configuration = ServerConfiguration(dataDirectory: "./lunar-data", port: defaultPort)
        }
        if let data { configuration.dataDirectory = data }
        if let port { configuration.port = port }
        if let bind { configuration.bindAddress = bind }
        guard (0...65535).contains(configuration.port) else { throw ValidationError("--port must be 0 to 65535") }
        return configuration
    }

    func bootstrapLogging() -> Logger {
        Self.bootstrapLogging(level: logLevel, label: "lunar")
    }

    /// Logs to standard error at `level`; every role calls this once at start.
    static func bootstrapLogging(level: Logger.Level, label: String) -> Logger {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: label)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// `lunar server`: the management server alone.
struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "server", abstract: "Run the management server (CloudStack API on /client/api).")

    @OptionGroup var options: RoleOptions

    func run() async throws {
        let logger = options.bootstrapLogging()
        let configuration = try options.serverConfiguration(defaultPort: 8080)
        let app = try await LunarServerApp.build(configuration: configuration, logger: logger)
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
    }
}

/// `lunar up`: everything on loopback in one command, for a quick start.
struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Start Lunar on 127.0.0.1 (management server, a SAN node and simulated hosts) with a data folder, and print where it listens and the admin keys.",
        discussion: "On first start it seeds a zone, pod, cluster, a managed pool on the SAN and offerings. Ctrl-C or SIGTERM stops everything cleanly. A second `lunar up` on the same folder resumes."
    )

    @OptionGroup var options: RoleOptions
    @OptionGroup var san: SANOptions

    @Option(name: .long, help: "Simulated hosts to start, each a `lunar agent` process (0 for none).")
    var hosts: Int = 2

    @Flag(name: .long, help: "Start only the server and the SAN: no seeding, no hosts.")
    var bare = false

    @Option(
        name: .long,
        help: "simulator (VMs inside the agents) or qemu (real guests: a KVM cluster, the test guest built and registered as a template, agents running qemu-system-x86_64; guests stop when Lunar stops)."
    )
    var hypervisor: AgentCommand.HypervisorChoice = .simulator

    func run() async throws {
        let logger = options.bootstrapLogging()
        var configuration = try options.serverConfiguration(defaultPort: 8080)
        configuration.bindAddress = options.bind ?? "127.0.0.1"
        var sanConfiguration = try san.configuration(dataDirectory: configuration.dataDirectory, defaultData: configuration.dataDirectory)
        if san.portal == nil { sanConfiguration.portalHost = configuration.bindAddress }
        if san.adminBind == nil { sanConfiguration.adminHost = configuration.bindAddress }
        let folder = DataFolder(path: configuration.dataDirectory)
        let bindAddress = configuration.bindAddress
        let (readyStream, ready) = AsyncStream.makeStream(of: UpAgents.SANReady.self)
        let banner = UpBanner(folder: folder, bindAddress: bindAddress, ready: ready)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        var imagePort: AsyncStream<Int>?
        if hypervisor == .qemu, !bare {
            // The guest image is served to the server's template download from here.
            try FileManager.default.createDirectory(atPath: UpGuestImage.cacheFolder, withIntermediateDirectories: true)
            let (ports, listening) = AsyncStream.makeStream(of: Int.self)
            imagePort = ports
            services.append(.init(service: UpImageServer.make(folder: UpGuestImage.cacheFolder, logger: logger, listening: listening)))
        }
        let agents = UpAgents(
            folder: folder, hosts: bare ? 0 : hosts, seed: !bare, hypervisor: hypervisor, imagePort: imagePort, logLevel: options.logLevel, logger: logger,
            ready: readyStream
        )
        let serverApp = try await LunarServerApp.build(configuration: configuration, logger: logger) { port in
            await banner.apiListening(port: port)
        }
        let sanApp = try await SANNode.build(configuration: sanConfiguration, logger: logger) { endpoints in
            do {
                // One writer at a time: the server writes its own field from its callback.
                try await banner.sanListening(endpoints)
            } catch {
                logger.error("could not write endpoints.json", metadata: ["error": .string("\(error)")])
            }
        }
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: serverApp), .init(service: sanApp)] + services + [.init(service: agents)], gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
    }
}

/// Gathers the quick-start banner once both roles listen (UpAgents prints it when all is ready), and serializes their endpoints.json updates.
actor UpBanner {
    let folder: DataFolder
    let bindAddress: String
    var apiPort: Int?
    var san: SANNode.Endpoints?
    let ready: AsyncStream<UpAgents.SANReady>.Continuation

    init(folder: DataFolder, bindAddress: String, ready: AsyncStream<UpAgents.SANReady>.Continuation) {
        self.folder = folder
        self.bindAddress = bindAddress
        self.ready = ready
    }

    func apiListening(port: Int) {
        apiPort = port
        printIfReady()
    }

    func sanListening(_ endpoints: SANNode.Endpoints) throws {
        try folder.updateEndpoints {
            $0.sanPortal = endpoints.portal
            $0.sanAdmin = endpoints.admin
        }
        san = endpoints
        printIfReady()
    }

    func printIfReady() {
        guard let apiPort, let san else { return }
        let keys = (try? folder.readJSON(UserKeysFile.self, from: "admin-keys.json"))
        let absolute = URL(fileURLWithPath: folder.path).standardizedFileURL.path
        var lines = [
            "Lunar is up.",
            "  API:         http://\(bindAddress):\(apiPort)/client/api",
            "  SAN portal:  \(san.portal)   (iSCSI, one target per volume, LUN 0)",
            "  SAN admin:   \(san.admin)   (token in \(san.tokenFile), mode 0600)",
            "  Data folder: \(absolute)",
            "  Admin keys:  \(folder.file("admin-keys.json")) (mode 0600)",
        ]
        if let keys {
            lines.append("  apikey:      \(keys.apikey)")
            lines.append("  secretkey:   \(keys.secretkey)")
        }
        // Printed by UpAgents once seeded, the template ready and the hosts started.
        ready.yield(
            .init(
                api: "http://\(bindAddress):\(apiPort)/client/api", san: .init(admin: san.admin, tokenFile: san.tokenFile), banner: lines,
                hint: "Try: lunar zone list --data \(absolute)    or    lunar san volume create v1 --size 1G --data \(absolute)\n(Ctrl-C stops Lunar)"
            )
        )
        ready.finish()
    }
}

/// The shape of `admin-keys.json`.
struct UserKeysFile: Decodable {
    var apikey: String
    var secretkey: String
}
