import Foundation
import Logging
import LunarClient
import LunarModel
import LunarServer
import ServiceLifecycle
import Synchronization

/// `lunar up`'s hosts: once the API and the SAN listen, seeds a new data folder, then starts one
/// `lunar agent` process per simulated host (so one can be killed like a failing host) and stops
/// them when Lunar stops.
final class UpAgents: Service, Sendable {
    let folder: DataFolder
    let hosts: Int
    let seed: Bool
    let logLevel: Logger.Level
    let logger: Logger
    let ready: AsyncStream<SANReady>
    let children = ChildProcesses()

    struct SANReady: Sendable {
        var api: String
        var san: SANNodeEndpointsSnapshot
    }

    struct SANNodeEndpointsSnapshot: Sendable {
        var admin: String
        var tokenFile: String
    }

    init(folder: DataFolder, hosts: Int, seed: Bool, logLevel: Logger.Level, logger: Logger, ready: AsyncStream<SANReady>) {
        self.folder = folder
        self.hosts = hosts
        self.seed = seed
        self.logLevel = logLevel
        self.logger = logger
        self.ready = ready
    }

    func run() async throws {
        var iterator = ready.makeAsyncIterator()
        guard let ready = await iterator.next() else { return }
        if seed { await seedIfNew(ready) }
        guard hosts > 0 else {
            try? await gracefulShutdown()
            return
        }
        var started: [LunarEndpoints.AgentProcess] = []
        for index in 1...hosts {
            let name = "host\(index)"
            let initiator = AgentCommand.defaultInitiator(name)
            do {
                let pid = try children.spawn(
                    arguments: ["agent", "--data", folder.path, "--name", name, "--initiator", initiator, "--log-level", "\(logLevel)"],
                    log: folder.file("agent-\(name).log")
                )
                started.append(.init(host: name, pid: pid, initiator: initiator))
            } catch {
                logger.error("could not start an agent", metadata: ["host.name": .string(name), "error": .string("\(error)")])
            }
        }
        try folder.updateEndpoints { $0.agents = started }
        FileHandle.standardOutput.write(Data(("  Hosts:       " + started.map { "\($0.host) (agent pid \($0.pid))" }.joined(separator: ", ") + "\n").utf8))
        try? await gracefulShutdown()
        await children.stopAll()
    }

    func seedIfNew(_ ready: SANReady) async {
        do {
            guard let keys = try folder.readJSON(UserKeys.self, from: LunarEndpoints.adminKeysFileName) else { throw LunarClientError.notConfigured("no admin keys") }
            let token = String(decoding: try Data(contentsOf: URL(fileURLWithPath: ready.san.tokenFile)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            let seeder = UpSeeder(
                api: LunarAPIClient(endpoint: ready.api, keys: keys), san: SANAdminClient(baseURL: ready.san.admin, token: token), sanAdmin: ready.san.admin,
                sanToken: token
            )
            if try await seeder.seedIfNew() { logger.info("seeded a zone, pod, cluster, the lunar-san pool, offerings") }
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
