import ArgumentParser
import Foundation
import Logging
import LunarClient
import LunarModel
import LunarServer
import ServiceLifecycle
import Synchronization

/// `lunar up`'s hosts: once the API and the SAN listen, seeds a new data folder (with qemu: a KVM
/// cluster, and the test guest built and registered as a template, ready), then starts one
/// `lunar agent` process per host (so one can be killed like a failing host), prints the banner,
/// and stops them when Lunar stops.
final class UpAgents: Service, Sendable {
    let folder: DataFolder
    let hosts: Int
    let seed: Bool
    let hypervisor: AgentCommand.HypervisorChoice
    let imagePort: AsyncStream<Int>?
    let logLevel: Logger.Level
    let logger: Logger
    let ready: AsyncStream<SANReady>
    let children = ChildProcesses()

    /// The template `lunar up --hypervisor qemu` registers.
    static let guestTemplateName = "lunar-guest"

    struct SANReady: Sendable {
        var api: String
        var san: SANNodeEndpointsSnapshot
        var banner: [String]
        var hint: String
    }

    struct SANNodeEndpointsSnapshot: Sendable {
        var admin: String
        var tokenFile: String
    }

    init(
        folder: DataFolder, hosts: Int, seed: Bool, hypervisor: AgentCommand.HypervisorChoice, imagePort: AsyncStream<Int>?, logLevel: Logger.Level, logger: Logger,
        ready: AsyncStream<SANReady>
    ) {
        self.folder = folder
        self.hosts = hosts
        self.seed = seed
        self.hypervisor = hypervisor
        self.imagePort = imagePort
        self.logLevel = logLevel
        self.logger = logger
        self.ready = ready
    }

    func run() async throws {
        var iterator = ready.makeAsyncIterator()
        guard let ready = await iterator.next() else { return }
        if hypervisor == .qemu, hosts > 0 {
            // Said here, before anything is seeded, rather than by agents that would exit at once.
            let longest = folder.file("agents/host\(hosts)")
            guard AgentCommand.qmpSocketsFit(in: longest) else {
                throw ValidationError("--data \(folder.path) is too long for the QEMU agents' QMP sockets (\(longest)/vm/<uuid>/qmp must fit in 107 bytes): use a shorter path")
            }
        }
        var banner = ready.banner
        if seed { await seedIfNew(ready) }
        if seed, hypervisor == .qemu {
            banner.append("  Template:    " + (await guestTemplate(ready)))
        }
        guard hosts > 0 else {
            print(banner + [ready.hint])
            try? await gracefulShutdown()
            return
        }
        var started: [LunarEndpoints.AgentProcess] = []
        for index in 1...hosts {
            let name = "host\(index)"
            let initiator = AgentCommand.defaultInitiator(name)
            var arguments = ["agent", "--data", folder.path, "--name", name, "--initiator", initiator, "--log-level", "\(logLevel)"]
            // Guests of `lunar up` stop with it; a standalone agent's outlive it.
            if hypervisor == .qemu { arguments += ["--hypervisor", "qemu", "--stop-guests-on-exit"] }
            do {
                let pid = try children.spawn(arguments: arguments, log: folder.file("agent-\(name).log"))
                started.append(.init(host: name, pid: pid, initiator: initiator))
            } catch {
                logger.error("could not start an agent", metadata: ["host.name": .string(name), "error": .string("\(error)")])
            }
        }
        try folder.updateEndpoints { $0.agents = started }
        banner.append("  Hosts:       " + started.map { "\($0.host) (agent pid \($0.pid))" }.joined(separator: ", ") + (hypervisor == .qemu ? "   [QEMU]" : "   [simulated]"))
        print(banner + [ready.hint])
        try? await gracefulShutdown()
        await children.stopAll()
    }

    func print(_ lines: [String]) {
        FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }

    /// Builds (or finds) the test guest and registers it as a featured KVM template, waiting until
    /// the server has downloaded and checked it. Returns the banner's line about it.
    func guestTemplate(_ ready: SANReady) async -> String {
        do {
            guard let keys = try folder.readJSON(UserKeys.self, from: LunarEndpoints.adminKeysFileName) else { throw LunarClientError.notConfigured("no admin keys") }
            let api = LunarAPIClient(endpoint: ready.api, keys: keys)
            let listed = try await api.call("listTemplates", ["templatefilter": "all", "name": Self.guestTemplateName])["template"]?.arrayValue ?? []
            var template = listed.first { $0["hypervisor"]?.stringValue == "KVM" && $0["status"]?.stringValue?.hasPrefix("Download Failed") != true }
            if template == nil {
                let (path, digest) = try await UpGuestImage.ensure(log: folder.file("guest-image-build.log"))
                var ports = imagePort?.makeAsyncIterator()
                guard let port = await ports?.next() else { throw LunarClientError.notConfigured("the image server did not start") }
                let file = (path as NSString).lastPathComponent
                let reply = try await api.call(
                    "registerTemplate",
                    [
                        "name": Self.guestTemplateName, "displaytext": "Lunar test guest: prints lunar-guest: ready, journals every data disk",
                        "url": "http://127.0.0.1:\(port)/\(file)", "format": "RAW", "hypervisor": "KVM", "ostypeid": OSType.all[0].id, "zoneid": "-1",
                        "checksum": "{SHA-256}" + digest, "ispublic": "true", "isfeatured": "true",
                    ]
                )
                template = reply["template"]?.arrayValue?.first
            }
            guard let id = template?["id"]?.stringValue else { throw LunarClientError.badResponse("registerTemplate answered no template") }
            // The download is loopback and small; a bound all the same.
            let deadline = ContinuousClock.now + .seconds(300)
            while ContinuousClock.now < deadline {
                let current = try await api.call("listTemplates", ["templatefilter": "all", "id": id])["template"]?.arrayValue?.first
                if current?["isready"]?.boolValue == true { return "\(Self.guestTemplateName) \(id) (KVM, ready)" }
                if let status = current?["status"]?.stringValue, status.hasPrefix("Download Failed") { throw LunarClientError.badResponse(status) }
                try await Task.sleep(for: .milliseconds(200))
            }
            throw LunarClientError.timedOut("template \(id) was not ready within 300 s")
        } catch {
            logger.error("could not make the guest template ready", metadata: ["error": .string("\(error)")])
            return "\(Self.guestTemplateName) NOT READY: \(error)"
        }
    }

    func seedIfNew(_ ready: SANReady) async {
        do {
            guard let keys = try folder.readJSON(UserKeys.self, from: LunarEndpoints.adminKeysFileName) else { throw LunarClientError.notConfigured("no admin keys") }
            let token = String(decoding: try Data(contentsOf: URL(fileURLWithPath: ready.san.tokenFile)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            let seeder = UpSeeder(
                api: LunarAPIClient(endpoint: ready.api, keys: keys), san: SANAdminClient(baseURL: ready.san.admin, token: token), sanAdmin: ready.san.admin,
                sanToken: token, hypervisor: hypervisor == .qemu ? "KVM" : "Simulator"
            )
            if try await seeder.seedIfNew() { logger.info("seeded a zone, pod, cluster, the lunar-san pool, offerings") }
            // A folder seeded for the other hypervisor gets a cluster its hosts can join.
            try await seeder.ensureCluster()
        } catch {
            logger.error("could not seed the new data folder", metadata: ["error": .string("\(error)")])
        }
    }
}

/// Child processes started by `lunar up`, stopped with SIGTERM (SIGKILL after 5 s) at shutdown.
final class ChildProcesses: Sendable {
    let processes = Mutex<[Process]>([])

    func spawn(arguments: [String], log: String) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        process.arguments = arguments
        FileManager.default.createFile(atPath: log, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        output.seekToEndOfFile()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        processes.withLock { $0.append(process) }
        return process.processIdentifier
    }

    func stopAll() async {
        let running = processes.withLock { $0 }
        for process in running where process.isRunning { process.terminate() }
        let deadline = ContinuousClock.now + .seconds(5)
        while running.contains(where: \.isRunning), ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        for process in running where process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
