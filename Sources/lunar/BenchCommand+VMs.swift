import ArgumentParser
import Foundation
import Logging
import LunarAgent
import LunarClient
import LunarModel
import LunarSAN
import LunarServer
import ServiceLifecycle

extension BenchCommand {
    /// The orchestration's speed, on a whole Lunar in this process (server, SAN, agents over real
    /// WebSockets and real iSCSI sessions, all on 127.0.0.1, in a temporary folder).
    struct VMBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "vms",
            abstract: "Attach and VM-start latency (p50/p99), 1,000 volumes attached across 20 VMs, an agent with 500 disks restarting.",
            discussion: "Everything runs in this process on loopback in a temporary data folder (removed afterwards)."
        )

        @Option(help: "Attach runs to time (each a new volume attached to a running VM).") var attachRuns = 200
        @Option(help: "VM starts to time (each with 4 disks).") var startRuns = 200
        @Option(help: "VMs of the bulk experiment.") var vms = 20
        @Option(help: "Volumes of the bulk experiment (spread over the VMs; at most 63 per VM).") var volumes = 1_000
        @Option(help: "Calls in flight at once in the bulk experiment.") var concurrency = 16
        @Option(help: "Experiments: attach, start, bulk, restart (restart needs bulk).") var experiments = "attach,start,bulk,restart"

        func run() async throws {
            let chosen = Set(experiments.split(separator: ",").map(String.init))
            guard chosen.isSubset(of: ["attach", "start", "bulk", "restart"]), !chosen.isEmpty else { throw ValidationError("--experiments: attach, start, bulk, restart") }
            guard attachRuns > 0, startRuns > 0, vms > 0, volumes >= vms, volumes <= vms * 63, (1...256).contains(concurrency) else {
                throw ValidationError("--attach-runs, --start-runs > 0; --volumes between --vms and 63 × --vms; --concurrency 1 to 256")
            }
            let logger = RoleOptions.bootstrapLogging(level: .warning, label: "bench")
            let directory = NSTemporaryDirectory() + "lunar-bench-vms-" + UUID().uuidString
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let cloud = try await BenchCloud.start(directory: directory, hosts: 2, logger: logger)
            do {
                let bench = VMBenchRun(cloud: cloud)
                if chosen.contains("attach") { try await bench.attachLatency(runs: attachRuns) }
                if chosen.contains("start") { try await bench.startLatency(runs: startRuns) }
                if chosen.contains("bulk") {
                    try await bench.bulk(vms: vms, volumes: volumes, concurrency: concurrency)
                    if chosen.contains("restart") { try await bench.agentRestart() }
                }
            } catch {
                await cloud.stop()
                throw error
            }
            await cloud.stop()
        }
    }
}

/// A server, a SAN and agents in this process, seeded like `lunar up`.
final class BenchCloud: @unchecked Sendable {
    let api: LunarAPIClient
    let directory: String
    let group: ServiceGroup
    let running: Task<Void, any Error>
    let logger: Logger
    var agents: [String: (service: LunarAgentService, task: Task<Void, any Error>)] = [:]
    let agentURL: String
    let token: String

    init(api: LunarAPIClient, directory: String, group: ServiceGroup, running: Task<Void, any Error>, logger: Logger, agentURL: String, token: String) {
        self.api = api
        self.directory = directory
        self.group = group
        self.running = running
        self.logger = logger
        self.agentURL = agentURL
        self.token = token
    }

    static func start(directory: String, hosts: Int, logger: Logger) async throws -> BenchCloud {
        var serverConfiguration = ServerConfiguration(dataDirectory: directory, port: 0)
        serverConfiguration.maximumConcurrentJobs = 64
        var sanConfiguration = SANConfiguration(dataDirectory: directory)
        sanConfiguration.portalPort = 0
        sanConfiguration.adminPort = 0
        sanConfiguration.capacityIOPS = 1_000_000
        let (apiPorts, apiReady) = AsyncStream.makeStream(of: Int.self)
        let (sanEndpoints, sanReady) = AsyncStream.makeStream(of: SANNode.Endpoints.self)
        let server = try await LunarServerApp.build(configuration: serverConfiguration, logger: logger) { apiReady.yield($0) }
        let san = try await SANNode.build(configuration: sanConfiguration, logger: logger) { sanReady.yield($0) }
        let group = ServiceGroup(configuration: .init(services: [.init(service: server), .init(service: san)], logger: logger))
        let running = Task { try await group.run() }
        var apiIterator = apiPorts.makeAsyncIterator()
        var sanIterator = sanEndpoints.makeAsyncIterator()
        guard let port = await apiIterator.next(), let endpoints = await sanIterator.next() else { throw LunarError(.internalError, "Lunar did not start") }
        let folder = DataFolder(path: directory)
        guard let keys = try folder.readJSON(UserKeys.self, from: LunarEndpoints.adminKeysFileName) else { throw LunarError(.internalError, "no admin keys") }
        let api = LunarAPIClient(endpoint: "http://127.0.0.1:\(port)/client/api", keys: keys)
        let sanToken = try String(contentsOfFile: endpoints.tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try await UpSeeder(api: api, san: SANAdminClient(baseURL: endpoints.admin, token: sanToken), sanAdmin: endpoints.admin, sanToken: sanToken).seedIfNew()
        _ = try await api.call("createDiskOffering", ["name": "bench", "disksize": "1", "miniops": "10", "maxiops": "100"])
        // Thin volumes: let the pool promise more than the disk holds (an operator's choice), so
        // 1,000 volumes of 1 GB fit on a small scratch disk. They stay empty.
        if let pool = try await api.call("listStoragePools")["storagepool"]?.arrayValue?.first?["id"]?.stringValue {
            _ = try await api.call("updateStoragePool", ["id": pool, "capacitybytes": "\(Int64(16) << 40)"])
        }
        let token = try String(contentsOfFile: folder.file(LunarEndpoints.agentTokenFileName), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let cloud = BenchCloud(api: api, directory: directory, group: group, running: running, logger: logger, agentURL: "ws://127.0.0.1:\(port)/agent", token: token)
        for index in 1...hosts { cloud.startAgent("host\(index)") }
        try await cloud.waitForHosts(hosts)
        return cloud
    }

    func startAgent(_ name: String) {
        let configuration = AgentConfiguration(serverURL: agentURL, token: token, hostName: name, initiatorIQN: AgentCommand.defaultInitiator(name))
        let service = LunarAgentService(configuration: configuration, logger: logger)
        agents[name] = (service, Task { try await service.run() })
    }

    func stopAgent(_ name: String) async {
        guard let agent = agents.removeValue(forKey: name) else { return }
        agent.task.cancel()
        _ = try? await agent.task.value
    }

    func waitForHosts(_ count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let up = (try await api.call("listHosts")["host"]?.arrayValue ?? []).filter { $0["state"]?.stringValue == "Up" }
            if up.count >= count { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw LunarError(.internalError, "\(count) hosts did not come up")
    }

    func stop() async {
        for name in agents.keys.sorted() { await stopAgent(name) }
        await group.triggerGracefulShutdown()
        _ = try? await running.value
    }
}

/// The experiments.
struct VMBenchRun {
    let cloud: BenchCloud
    var api: LunarAPIClient { cloud.api }

    func id(_ reply: JSONObject, _ key: String) throws -> String {
        guard let id = reply[key]?["id"]?.stringValue ?? reply["id"]?.stringValue else { throw LunarError(.internalError, "no \(key) id") }
        return id
    }

    func job(_ command: String, _ parameters: [String: String]) async throws -> JSONObject {
        let reply = try await api.call(command, parameters)
        guard let jobID = reply["jobid"]?.stringValue else { return reply }
        return try await api.waitForJob(jobID, pollInterval: .milliseconds(2))
    }

    func offerings() async throws -> (zone: String, service: String, disk: String) {
        let zone = try await api.call("listZones")["zone"]?.arrayValue?.first?["id"]?.stringValue
        let service = try await api.call("listServiceOfferings", ["name": "small"])["serviceoffering"]?.arrayValue?.first?["id"]?.stringValue
        let disk = try await api.call("listDiskOfferings", ["name": "bench"])["diskoffering"]?.arrayValue?.first?["id"]?.stringValue
        guard let zone, let service, let disk else { throw LunarError(.internalError, "not seeded") }
        return (zone, service, disk)
    }

    func deploy(start: Bool = true) async throws -> String {
        let (zone, service, _) = try await offerings()
        let result = try await job("deployVirtualMachine", ["zoneid": zone, "serviceofferingid": service, "templateid": Template.builtIn.id.uuid, "startvm": start ? "true" : "false"])
        return try id(result, "virtualmachine")
    }

    func newVolume() async throws -> String {
        let (zone, _, disk) = try await offerings()
        let reply = try await api.call("createVolume", ["zoneid": zone, "diskofferingid": disk])
        _ = try await api.waitForJob(reply["jobid"]!.stringValue!, pollInterval: .milliseconds(2))
        return reply["id"]!.stringValue!
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }

    static func percentiles(_ samples: [Double]) -> String {
        let sorted = samples.sorted()
        func at(_ q: Double) -> Double { sorted[min(sorted.count - 1, Int((Double(sorted.count) * q).rounded(.up)) - 1)] }
        return String(format: "p50 %.1f ms   p99 %.1f ms   max %.1f ms   (n=%d)", at(0.5), at(0.99), sorted.last ?? 0, sorted.count)
    }

    /// A new (unplaced) volume attached to a running VM: placement, SAN create, grant, agent login, attach.
    func attachLatency(runs: Int) async throws {
        let vm = try await deploy()
        var samples: [Double] = []
        for _ in 0..<runs {
            let volume = try await newVolume()
            let clock = ContinuousClock()
            let elapsed = try await clock.measure { _ = try await job("attachVolume", ["id": volume, "virtualmachineid": vm]) }
            samples.append(Self.milliseconds(elapsed))
            _ = try await job("detachVolume", ["id": volume])
            _ = try await api.call("deleteVolume", ["id": volume])
        }
        print("attach a new volume to a running VM (API call to job done): \(Self.percentiles(samples))")
        _ = try await job("destroyVirtualMachine", ["id": vm, "expunge": "true"])
    }

    /// Start of a stopped VM with 4 disks (root + 3 data): grant ×4, connect ×4, start.
    func startLatency(runs: Int) async throws {
        let vm = try await deploy(start: false)
        for _ in 0..<3 { _ = try await job("attachVolume", ["id": try await newVolume(), "virtualmachineid": vm]) }
        var samples: [Double] = []
        for _ in 0..<runs {
            let clock = ContinuousClock()
            let elapsed = try await clock.measure { _ = try await job("startVirtualMachine", ["id": vm]) }
            samples.append(Self.milliseconds(elapsed))
            _ = try await job("stopVirtualMachine", ["id": vm])
        }
        print("start a VM with 4 disks (API call to job done):            \(Self.percentiles(samples))")
        _ = try await job("destroyVirtualMachine", ["id": vm, "expunge": "true"])
    }

    /// `volumes` new volumes attached across `vms` running VMs, `concurrency` calls at a time.
    func bulk(vms count: Int, volumes: Int, concurrency: Int) async throws {
        var vms: [String] = []
        for _ in 0..<count { vms.append(try await deploy()) }
        let clock = ContinuousClock()
        let start = clock.now
        let bench = self
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<volumes {
                if index >= concurrency { try await group.next() }
                let vm = vms[index % vms.count]
                group.addTask { _ = try await bench.job("attachVolume", ["id": try await bench.newVolume(), "virtualmachineid": vm]) }
            }
            try await group.waitForAll()
        }
        let elapsed = Self.milliseconds(clock.now - start) / 1000
        print(String(format: "%d volumes created and attached across %d VMs (%d at a time): %.1f s, %.1f attaches/s", volumes, count, concurrency, elapsed, Double(volumes) / elapsed))
        let invariant = try await api.call("checkAccessInvariant")["invariant"]?["ok"]?.boolValue ?? false
        print("  invariant after the bulk attach: \(invariant ? "held" : "VIOLATED")")
    }

    /// The busiest host's agent restarts (its simulated VMs die with it): time until the server has
    /// every VM running again and the invariant holds.
    func agentRestart() async throws {
        var perHost: [String: Int] = [:]
        for vm in try await api.call("listVirtualMachines", ["listall": "true"])["virtualmachine"]?.arrayValue ?? [] {
            let volumes = try await api.call("listVolumes", ["listall": "true", "virtualmachineid": vm["id"]!.stringValue!])["count"]?.intValue ?? 0
            perHost[vm["hostname"]?.stringValue ?? "-", default: 0] += Int(volumes)
        }
        guard let (host, disks) = perHost.max(by: { $0.value < $1.value }) else { return }
        await cloud.stopAgent(host)
        let clock = ContinuousClock()
        let start = clock.now
        cloud.startAgent(host)
        while true {
            let vms = try await api.call("listVirtualMachines", ["listall": "true"])["virtualmachine"]?.arrayValue ?? []
            let allRunning = vms.allSatisfy { $0["state"]?.stringValue == "Running" }
            if allRunning, try await api.call("checkAccessInvariant")["invariant"]?["ok"]?.boolValue == true { break }
            guard clock.now - start < .seconds(600) else { throw LunarError(.internalError, "not reconciled within 10 minutes") }
            try await Task.sleep(for: .milliseconds(100))
        }
        print(String(format: "agent of %@ with %d connected disks restarted: reconciled (VMs running again, invariant held) in %.2f s", host, disks, Self.milliseconds(clock.now - start) / 1000))
    }
}
