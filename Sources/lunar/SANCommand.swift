import ArgumentParser
import Foundation
import Logging
import LunarClient
import LunarModel
import LunarSAN
import LunarServer

/// Flags of the storage node role.
struct SANOptions: ParsableArguments {
    @Option(name: .long, help: "The iSCSI portal, HOST:PORT (port 0 picks a free one).")
    var portal: String?

    @Option(name: .customLong("admin-port"), help: "The SAN admin API port (0 picks a free one).")
    var adminPort: Int?

    @Option(name: .customLong("admin-bind"), help: "The address the SAN admin API listens on.")
    var adminBind: String?

    @Option(name: .customLong("san-config"), help: "A JSON SAN config file (keys: data, portal_host, portal_port, admin_port, iqn_prefix, io_threads, ...).")
    var sanConfig: String?

    @Option(name: .customLong("capacity-iops"), help: "The node's capacity in 4 KiB-equivalent IOPS (default: measured at first start).")
    var capacityIOPS: Int?

    @Flag(name: .customLong("qos-off"), help: "Start with QoS off (every command runs at once; `lunar san qos --enable` turns it on).")
    var qosOff = false

    @Option(name: .customLong("discovery-account"), help: "Discovery sessions must pass CHAP as this account.")
    var discoveryAccount: String?

    func configuration(dataDirectory: String?, defaultData: String) throws -> SANConfiguration {
        var configuration: SANConfiguration
        if let sanConfig {
            do {
                configuration = try SANConfiguration.load(path: sanConfig)
            } catch {
                throw ValidationError("cannot read SAN config file \(sanConfig): \(error)")
            }
        } else {
            configuration = SANConfiguration(dataDirectory: defaultData)
        }
        if let dataDirectory { configuration.dataDirectory = dataDirectory }
        if let portal {
            guard let colon = portal.lastIndex(of: ":"), let port = Int(portal[portal.index(after: colon)...]) else {
                throw ValidationError("--portal must be HOST:PORT, e.g. 127.0.0.1:3260")
            }
            configuration.portalHost = String(portal[..<colon])
            configuration.portalPort = port
        }
        if let adminPort { configuration.adminPort = adminPort }
        if let adminBind { configuration.adminHost = adminBind }
        if let capacityIOPS { configuration.capacityIOPS = capacityIOPS }
        if qosOff { configuration.qosEnabled = false }
        if let discoveryAccount { configuration.discoveryAccount = discoveryAccount }
        do {
            try configuration.validate()
        } catch let error as SANError {
            throw ValidationError(error.message)
        }
        return configuration
    }
}

/// `lunar san`: runs a storage node (`lunar san --data D` is `lunar san run --data D`);
/// `lunar san volume ...` manages its volumes.
struct SANCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "san",
        abstract: "Run a storage node (iSCSI target, one IQN per volume, and its admin API), or manage its volumes.",
        subcommands: [SANRunCommand.self, SANVolumeCommand.self, SANGroupCommand.self, SANAccountCommand.self, SANQoSCommand.self],
        defaultSubcommand: SANRunCommand.self
    )
}

struct SANRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run the storage node until SIGTERM or Ctrl-C (the default of `lunar san`)."
    )

    @Option(name: .long, help: "The data folder (volumes in san/volumes, the admin token, endpoints.json).")
    var data: String?

    @OptionGroup var san: SANOptions

    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    func run() async throws {
        let logger = RoleOptions.bootstrapLogging(level: logLevel, label: "lunar.san")
        let configuration = try san.configuration(dataDirectory: data, defaultData: ProcessInfo.processInfo.environment["LUNAR_DATA"] ?? "./lunar-data")
        let folder = DataFolder(path: configuration.dataDirectory)
        let app = try await SANNode.build(configuration: configuration, logger: logger) { endpoints in
            do {
                try folder.updateEndpoints {
                    $0.sanPortal = endpoints.portal
                    $0.sanAdmin = endpoints.admin
                }
            } catch {
                logger.error("could not write endpoints.json", metadata: ["error": .string("\(error)")])
            }
        }
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
    }
}

/// How the volume verbs find the node: `--admin URL --token T`, else the data folder.
struct SANClientOptions: ParsableArguments {
    @Option(name: .long, help: "The data folder of a running node (default: $LUNAR_DATA, else ./lunar-data).")
    var data: String?

    @Option(name: .long, help: "The SAN admin API URL (with --token), instead of --data.")
    var admin: String?

    @Option(name: .long, help: "The SAN admin bearer token (with --admin).")
    var token: String?

    @Flag(name: .long, help: "Print the raw JSON instead of a table.")
    var json = false

    func client() throws -> SANAdminClient {
        if let admin {
            guard let token else { throw ValidationError("--admin needs --token") }
            return SANAdminClient(baseURL: admin, token: token)
        }
        return try SANAdminClient.forDataFolder(data ?? ProcessInfo.processInfo.environment["LUNAR_DATA"] ?? "./lunar-data")
    }

    func print(_ volume: SANVolumeInfo) throws {
        if json {
            Swift.print(try SANOutput.encode(volume))
            return
        }
        let rows: [(String, String)] = [
            ("name", volume.name), ("size", ByteSize.format(volume.sizeBytes)), ("allocated", "\(volume.allocatedBytes) bytes"), ("iqn", volume.iqn),
            ("lun", String(volume.lun)), ("serial", volume.serial), ("naa", volume.naa),
            ("allowed initiators", volume.allowedInitiators.joined(separator: ", ")), ("sessions", volume.sessions.joined(separator: ", ")),
            ("created", volume.created),
        ] + (volume.account.map { [("account", $0 + " (CHAP required)")] } ?? []) + (volume.qos.map { [("qos", "min \($0.minIOPS) / max \($0.maxIOPS) / burst \($0.burstIOPS) IOPS")] } ?? [])
        for (field, value) in rows { Swift.print(field.padding(toLength: 19, withPad: " ", startingAt: 0) + " " + value) }
    }
}

enum SANOutput {
    static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

struct SANVolumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "volume", abstract: "Manage the node's volumes and who may log in to them.",
        subcommands: [Create.self, List.self, Show.self, Resize.self, Delete.self, Allow.self, Disallow.self, Initiators.self, QoS.self, Stats.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a thin volume (target iqn.2026-11.org.lunar:NAME, LUN 0).")
        @Argument(help: "The volume name (lower-case letters, digits, '-', '.').") var name: String
        @Option(name: .long, help: "The size: bytes, or 512M, 10G, 1T.") var size: String
        @Option(name: .long, help: "Guaranteed 4 KiB-equivalent IOPS (with --max and --burst; default: no QoS limits).") var min: Int?
        @Option(name: .long, help: "Sustained IOPS cap.") var max: Int?
        @Option(name: .long, help: "IOPS cap while burst credit lasts (default: --max).") var burst: Int?
        @Option(name: .long, help: "The owning account: logins then need CHAP with its secrets.") var account: String?
        @OptionGroup var options: SANClientOptions

        func run() async throws {
            var qos: SANVolumeQoS?
            if min != nil || max != nil || burst != nil {
                guard let min, let max else { throw ValidationError("give --min and --max together (and optionally --burst)") }
                qos = SANVolumeQoS(minIOPS: min, maxIOPS: max, burstIOPS: burst ?? max)
            }
            try await Output.run { try options.print(try await options.client().createVolume(name: name, size: size, qos: qos, account: account)) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the volumes.")
        @OptionGroup var options: SANClientOptions

        func run() async throws {
            try await Output.run {
                let volumes = try await options.client().listVolumes()
                if options.json {
                    print(try SANOutput.encode(volumes))
                    return
                }
                let rows = volumes.map { volume -> JSONObject in
                    var row = JSONObject()
                    row["name"] = .string(volume.name)
                    row["size"] = .string(ByteSize.format(volume.sizeBytes))
                    row["iqn"] = .string(volume.iqn)
                    row["initiators"] = .string(volume.allowedInitiators.joined(separator: ","))
                    row["sessions"] = .string(String(volume.sessions.count))
                    return row
                }
                print(Table.render(rows: rows, columns: ["name", "size", "iqn", "initiators", "sessions"]))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one volume.")
        @Argument var name: String
        @OptionGroup var options: SANClientOptions

        func run() async throws {
            try await Output.run { try options.print(try await options.client().volume(name)) }
        }
    }

    struct Resize: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Grow a volume online (connected initiators see a capacity change).")
        @Argument var name: String
        @Option(name: .long, help: "The new size: bytes, or 512M, 10G, 1T.") var size: String
        @OptionGroup var options: SANClientOptions

        func run() async throws {
            try await Output.run { try options.print(try await options.client().resizeVolume(name, size: size)) }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a volume no initiator is logged in to.")
        @Argument var name: String
        @OptionGroup var options: SANClientOptions

        func run() async throws {
            try await Output.run {
                try await options.client().deleteVolume(name)
                print("deleted \(name)")
            }
        }
    }

    struct Allow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let an initiator log in to a volume.")
        @Argument var name: String
        @Argument(help: "The initiator name, e.g. iqn.2008-11.org.linux-kvm:vm1.") var iqn: String
        @OptionGroup var options: SANClientOptions

        func run() async throws {
            try await Output.run { try options.print(try await options.client().allow(name, initiator: iqn)) }
        }
    }

    struct Disallow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Take an initiator's access away; its sessions to the volume are dropped at once.")
        @Argument var name: String
        @Argument var iqn: String
        @OptionGroup var options: SANClientOptions

        func run() async throws {
            try await Output.run { try options.print(try await options.client().disallow(name, initiator: iqn)) }
        }
    }

    struct Initiators: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the initiators allowed on a volume.")
        @Argument var name: String
        @OptionGroup var options: SANClientOptions

        func run() async throws {
            try await Output.run {
                let initiators = try await options.client().allowedInitiators(name)
                print(options.json ? try SANOutput.encode(initiators) : initiators.joined(separator: "\n"))
            }
        }
    }
}
