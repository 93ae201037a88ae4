import ArgumentParser
import Foundation
import Hummingbird
import Logging
import LunarServer

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
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "lunar")
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
        abstract: "Start Lunar on 127.0.0.1 with a data folder, and print where it listens and the admin keys.",
        discussion: "Ctrl-C or SIGTERM stops everything cleanly. A second `lunar up` on the same folder resumes."
    )

    @OptionGroup var options: RoleOptions

    func run() async throws {
        let logger = options.bootstrapLogging()
        var configuration = try options.serverConfiguration(defaultPort: 8080)
        configuration.bindAddress = options.bind ?? "127.0.0.1"
        let folder = DataFolder(path: configuration.dataDirectory)
        let bindAddress = configuration.bindAddress
        let app = try await LunarServerApp.build(configuration: configuration, logger: logger) { port in
            let keys = (try? folder.readJSON(UserKeysFile.self, from: "admin-keys.json"))
            let absolute = URL(fileURLWithPath: folder.path).standardizedFileURL.path
            var lines = [
                "Lunar is up.",
                "  API:         http://\(bindAddress):\(port)/client/api",
                "  Data folder: \(absolute)",
                "  Admin keys:  \(folder.file("admin-keys.json")) (mode 0600)",
            ]
            if let keys {
                lines.append("  apikey:      \(keys.apikey)")
                lines.append("  secretkey:   \(keys.secretkey)")
            }
            lines.append("Try: lunar zone list --data \(absolute)    (Ctrl-C stops Lunar)")
            FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
        }
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
    }
}

/// The shape of `admin-keys.json`.
struct UserKeysFile: Decodable {
    var apikey: String
    var secretkey: String
}
