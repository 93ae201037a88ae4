import ArgumentParser
import Foundation
import Logging
import LunarAgent
import LunarModel
import ServiceLifecycle

/// `lunar agent`: one hypervisor host's agent.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run a host agent (simulator or QEMU hypervisor): connects to the server, registers the host, connects disks and runs VMs."
    )

    @Option(name: .long, help: "The server's agent URL, ws://HOST:PORT/agent (default: from --data's endpoints.json).")
    var server: String?

    @Option(name: .long, help: "A Lunar data folder to read the agent URL and token from (or LUNAR_DATA).")
    var data: String?

    @Option(name: .long, help: "The registration token (default: --token-file, else <data>/agent-token).")
    var token: String?

    @Option(name: .long, help: "A file holding the registration token.")
    var tokenFile: String?

    @Option(name: .long, help: "This host's name (unique).")
    var name: String

    @Option(name: .long, help: "This host's iSCSI initiator name (default iqn.2026-11.org.lunar.host:<name>).")
    var initiator: String?

    @Option(name: .long, help: "The host's address as the server lists it.")
    var address: String = "127.0.0.1"

    @Option(name: .long, help: "The cluster to join, by id or name (default: the first Simulator cluster).")
    var cluster: String?

    @Option(name: .long, help: "simulator (VMs inside the agent) or qemu (a qemu-system-x86_64 per VM, over QMP).")
    var hypervisor: HypervisorChoice = .simulator

    @Option(name: .long, help: "qemu: the folder for guest sockets and specs (default <data>/agents/<name>, else ./lunar-agent-<name>).")
    var state: String?

    @Option(name: .long, help: "qemu: the folder for console logs (default <data>/consoles, shared by the hosts of one `lunar up`).")
    var consoles: String?

    @Option(name: .long, help: "qemu: kvm or tcg (default: probed once at start).")
    var accel: String?

    @Flag(name: .long, help: "qemu: stop every guest when the agent stops (lunar up); by default guests outlive their agent.")
    var stopGuestsOnExit = false

    @Option(name: .long, help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    @Option(name: .long, help: ArgumentHelp("Inject a failure (tests): COMMAND=lose-command|lose-answer|refuse|delay:MS[*COUNT].", visibility: .hidden))
    var fault: [String] = []

    func run() async throws {
        let logger = RoleOptions.bootstrapLogging(level: logLevel, label: "lunar.agent")
        let folder = data ?? ProcessInfo.processInfo.environment["LUNAR_DATA"]
        var url = server
        if url == nil, let folder {
            let endpoints = try? JSONDecoder().decode(LunarEndpoints.self, from: Data(contentsOf: URL(fileURLWithPath: (folder as NSString).appendingPathComponent(LunarEndpoints.fileName))))
            url = endpoints?.agent
        }
        guard let url else { throw ValidationError("give --server ws://HOST:PORT/agent, or --data of a running Lunar") }
        var secret = token
        if secret == nil, let path = tokenFile ?? folder.map({ ($0 as NSString).appendingPathComponent(LunarEndpoints.agentTokenFileName) }) {
            guard let contents = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read the token file \(path)") }
            secret = String(decoding: contents, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let secret, !secret.isEmpty else { throw ValidationError("give --token, --token-file or --data") }
        let configuration = AgentConfiguration(
            serverURL: url, token: secret, hostName: name, ipAddress: address, initiatorIQN: initiator ?? Self.defaultInitiator(name), cluster: cluster
        )
        var rules: [ScriptedFaults.Rule] = []
        for text in fault {
            guard let rule = ScriptedFaults.parse(text) else { throw ValidationError("bad --fault \(text): COMMAND=lose-command|lose-answer|refuse|delay:MS[*COUNT]") }
            rules.append(rule)
        }
        if !rules.isEmpty { logger.warning("injecting failures", metadata: ["faults": .string(fault.joined(separator: " "))]) }
        var makeHypervisor: (@Sendable (StoragePoolManager, Logger) -> any Hypervisor)?
        if hypervisor == .qemu {
            if let accel, !["kvm", "tcg"].contains(accel) { throw ValidationError("--accel is kvm or tcg") }
            let stateFolder = state ?? folder.map { ($0 as NSString).appendingPathComponent("agents/\(name)") } ?? "lunar-agent-\(name)"
            var qemu = QEMUConfiguration(
                stateDirectory: stateFolder, consoleDirectory: consoles ?? folder.map { ($0 as NSString).appendingPathComponent("consoles") }, hostName: name,
                initiatorIQN: configuration.initiatorIQN
            )
            guard Self.qmpSocketsFit(in: stateFolder) else {
                throw ValidationError("--state \(stateFolder) is too long for QMP socket paths (<state>/vm/<uuid>/qmp must fit in 107 bytes): give a shorter --state or --data")
            }
            qemu.accel = accel
            qemu.migrationAddress = address
            qemu.stopGuestsOnExit = stopGuestsOnExit
            let settings = qemu
            makeHypervisor = { _, logger in QEMUHypervisor(configuration: settings, logger: logger) }
        }
        let agent = LunarAgentService(
            configuration: configuration, logger: logger, faults: rules.isEmpty ? nil : ScriptedFaults(rules: rules), hypervisor: makeHypervisor
        )
        let group = ServiceGroup(configuration: .init(services: [.init(service: agent)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    enum HypervisorChoice: String, ExpressibleByArgument, CaseIterable {
        case simulator, qemu
    }

    /// A Unix socket path has 108 bytes: `<state>/vm/<uuid>/qmp` must fit.
    static func qmpSocketsFit(in stateFolder: String) -> Bool {
        (stateFolder as NSString).standardizingPath.utf8.count + 45 < 108
    }

    static func defaultInitiator(_ name: String) -> String {
        let safe = name.lowercased().map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "-" }
        return "iqn.2026-11.org.lunar.host:\(String(safe))"
    }
}
