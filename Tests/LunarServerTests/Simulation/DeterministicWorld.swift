import Foundation
import Logging
import LunarAgent
import LunarModel
import LunarServer
import LunarWire

/// The deterministic simulation's cloud: one server core (in-memory SQLite, no listeners), three
/// agents connected over memory, the simulated SAN, all on one `SimulationExecutor` thread and a
/// `ManualClock`. Operations and faults come from one seed; the same seed gives the same trace.
/// Only touched from the simulation's thread.
final class DeterministicWorld: SimulatedCloud, @unchecked Sendable {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let seed: UInt64
    let clock: ManualClock
    let san: SimulatedSAN
    let slot: ServerSlot
    /// The server process now running (a crash test replaces it).
    var core: ServerCore { slot.core! }
    let trace: Trace
    var random: SplitMix64
    var agents: [String: Task<Void, Never>] = [:]
    var services: Task<Void, Never>?
    var hostIDs: [String: String] = [:]
    var zoneID = ""
    var serviceOfferingID = ""
    var diskOfferingID = ""
    let faultRate: Double
    let logger = Logger(label: "sim", factory: { _ in SwiftLogNoOpLogHandler() })

    let directory: String

    init(seed: UInt64, directory: String, clock: ManualClock, san: SimulatedSAN, core: ServerCore, trace: Trace, faultRate: Double) {
        self.seed = seed
        self.directory = directory
        self.clock = clock
        self.san = san
        self.slot = ServerSlot(core)
        self.trace = trace
        self.faultRate = faultRate
        self.random = SplitMix64(state: seed)
    }

    /// Runs `operations` seeded operations on a fresh world and returns the trace.
    static func run(seed: UInt64, operations: Int, faultRate: Double = 0.08, grantRefusalRate: Double = 0.05) async throws -> [String] {
        try await simulate(seed: seed, faultRate: faultRate, grantRefusalRate: grantRefusalRate) { world in
            try await world.run(operations: operations)
            return world.trace.all
        }
    }

    /// How a world's server is made (and made again after a crash).
    struct ServerRecipe: Sendable {
        var configuration: ServerConfiguration
        var extraCommands: [APICommand] = []
        var stepFaults: (any StepFaults)?
    }

    /// Builds a world (SQLite in memory, or in a file when `persistent`, so a crash test can open
    /// it again), runs `body` on the simulation's thread, tears it down. The database is opened
    /// outside that thread: SQLite's opening is not counted work.
    static func simulate<T: Sendable>(
        seed: UInt64, faultRate: Double = 0.08, grantRefusalRate: Double = 0.05, persistent: Bool = false, extraCommands: [APICommand] = [],
        stepFaults: (any StepFaults)? = nil, _ body: @escaping @Sendable (DeterministicWorld) async throws -> T
    ) async throws -> T {
        let logger = Logger(label: "sim", factory: { _ in SwiftLogNoOpLogHandler() })
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lunar-dsim-\(seed)-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = ServerConfiguration(dataDirectory: directory, port: 0)
        configuration.agentTimeoutScale = 0.1
        if persistent { configuration.databasePath = directory + "/lunar.db" }
        let recipe = ServerRecipe(configuration: configuration, extraCommands: extraCommands, stepFaults: stepFaults)
        let database = try await Database.openSQLite(path: configuration.databasePath, logger: logger)
        let executor = SimulationExecutor()
        let clock = ManualClock()
        let trace = Trace()
        let opened = DatabaseBox(database)
        let outcome: Result<T, any Error> = await withCheckedContinuation { continuation in
            let thread = Thread {
                // Virtual time makes the simulation indifferent to load: it yields the cores to
                // the suites that run beside it and measure real time.
                _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)  // 0: this thread (Linux nice is per thread)
                continuation.resume(
                    returning: Result {
                        try executor.run(clock: clock, random: SharedRandom(seed: seed ^ 0xD1CE), limit: .seconds(36_000)) {
                            let san = SimulatedSAN(seed: seed, refusalRate: grantRefusalRate)
                            let life = ProcessLife()
                            let core = try await makeCore(recipe, database: database, san: san, life: life, clock: clock)
                            let world = DeterministicWorld(seed: seed, directory: directory, clock: clock, san: san, core: core, trace: trace, faultRate: faultRate)
                            world.recipe = recipe
                            world.life = life
                            world.database = opened
                            let result: T
                            do {
                                try await world.setUp()
                                result = try await body(world)
                            } catch {
                                await world.tearDown()
                                throw Failure(description: "\(error)\nsteps:\n\(trace.all.joined(separator: "\n"))")
                            }
                            await world.tearDown()
                            return result
                        }
                    }
                )
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        await opened.database.close()
        return try outcome.get()
    }

    static func makeCore(_ recipe: ServerRecipe, database: Database, san: SimulatedSAN, life: ProcessLife, clock: ManualClock) async throws -> ServerCore {
        var provider = SimulatedStorageProvider(san: san)
        provider.life = life
        return try await ServerCore.make(
            configuration: recipe.configuration, database: database, time: ManualTimeFromClock(clock: clock), clock: clock,
            extraCommands: recipe.extraCommands, extraProviders: [provider], stepFaults: recipe.stepFaults,
            logger: Logger(label: "sim", factory: { _ in SwiftLogNoOpLogHandler() })
        )
    }

    var recipe: ServerRecipe?
    var life = ProcessLife()
    var database: DatabaseBox?

    // MARK: A server that dies

    /// The server process dies where it stands: its SAN calls fail, its database connection is
    /// gone (SQLite rolls back an open transaction), its agents' connections are reset. Call it
    /// from the dying process's own code (a step fault): nothing it does afterwards reaches
    /// anything. `restart()` brings a new process up on the same database file.
    func crash() throws {
        life.die()
        slot.replace(with: nil)
        guard let database else { throw Failure(description: "no database to crash") }
        let dying = database.database
        try blocking { try await dying.abandon() }
    }

    /// A new server process on the same data: the old one's tasks are ended first, then the new
    /// one recovers its unfinished jobs (`FlowRecovery`) and agents reconnect.
    func restart() async throws {
        services?.cancel()
        await services?.value
        guard let recipe, let database else { throw Failure(description: "not a persistent world") }
        let path = recipe.configuration.databasePath
        let reopened = try blocking { try await Database.openSQLite(path: path, logger: Logger(label: "sim", factory: { _ in SwiftLogNoOpLogHandler() })) }
        database.database = reopened
        life = ProcessLife()
        slot.replace(with: try await Self.makeCore(recipe, database: reopened, san: san, life: life, clock: clock))
        startServices()
    }

    // MARK: The API, in process

    func call(_ command: String, _ parameters: [String: String] = [:]) async throws -> JSONObject {
        var pairs: [(name: String, value: String)] = parameters.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        pairs.append(("command", command))
        pairs.append(("response", "json"))
        pairs.append(("apiKey", core.rootKeys.apiKey))
        pairs.append(("signatureVersion", "3"))
        pairs.append(("expires", CloudStackDate.format(epochSeconds: core.server.time.nowEpochSeconds() + 600)))
        pairs.append(("signature", CloudStackSignature.sign(pairs, secretKey: core.rootKeys.secretKey)))
        let response = await core.dispatcher.dispatch(pairs)
        guard let inner = try JSONValue.parse(response.body).objectValue?.entries.first?.value.objectValue else {
            throw Failure(description: "\(command): not a CloudStack reply: \(response.body.prefix(200))")
        }
        guard response.status == 200 else {
            throw LunarError(LunarError.Code(rawValue: response.status), inner["errortext"]?.stringValue ?? "error \(response.status)")
        }
        return inner
    }

    /// Waits (virtual time, bounded) for a job; nil when it succeeded, else its error text.
    func waitForJob(_ jobID: String) async throws -> String? {
        // Polls at 50 ms, slowing to 1 s: a job waiting out a timeout costs few polls.
        var interval = Duration.milliseconds(50)
        for _ in 0..<1_000 {
            let job = try await call("queryAsyncJobResult", ["jobid": jobID])
            switch job["jobstatus"]?.intValue ?? 0 {
            case 0:
                try await clock.sleep(for: interval)
                interval = min(interval * 2, .seconds(1))
            case 1: return nil
            default: return job["jobresult"]?["errortext"]?.stringValue ?? "failed"
            }
        }
        throw Failure(description: "job \(jobID) did not finish in 600 virtual seconds")
    }

    func submit(_ command: String, _ parameters: [String: String]) async throws -> (reply: JSONObject, outcome: String) {
        let reply = try await call(command, parameters)
        guard let jobID = reply["jobid"]?.stringValue else { return (reply, "no job") }
        if let failure = try await waitForJob(jobID) { return (reply, "failed: \(failure.prefix(100))") }
        return (reply, "ok")
    }

    func until(_ what: String, seconds: Int = 120, _ condition: () async throws -> Bool) async throws {
        let start = clock.now
        var interval = Duration.milliseconds(100)
        while start.duration(to: clock.now) < .seconds(seconds) {
            if try await condition() { return }
            try await clock.sleep(for: interval)
            interval = min(interval * 2, .seconds(1))
        }
        throw Failure(description: "\(what) did not happen in \(seconds) virtual seconds")
    }

    // MARK: The world

    func setUp() async throws {
        startServices()
        zoneID = try await call("createZone", ["name": "z", "networktype": "Advanced", "dns1": "127.0.0.53", "internaldns1": "127.0.0.53"])["zone"]!["id"]!.stringValue!
        let podID = try await call("createPod", ["name": "p", "zoneid": zoneID, "gateway": "127.0.0.1", "netmask": "255.0.0.0", "startip": "127.0.1.1"])["pod"]!["id"]!.stringValue!
        _ = try await call("addCluster", ["clustername": "c", "zoneid": zoneID, "podid": podID, "hypervisor": "Simulator", "clustertype": "CloudManaged"])
        _ = try await call("createStoragePool", ["name": "sim", "zoneid": zoneID, "url": "sim://x", "provider": "sim", "managed": "true", "capacityiops": "1000000"])
        serviceOfferingID = try await call(
            "createServiceOffering", ["name": "s", "cpunumber": "1", "cpuspeed": "1000", "memory": "512", "miniops": "10", "maxiops": "100", "offerha": "true"]
        )["serviceoffering"]!["id"]!.stringValue!
        diskOfferingID = try await call("createDiskOffering", ["name": "d", "disksize": "1", "miniops": "10", "maxiops": "100"])["diskoffering"]!["id"]!.stringValue!
        agentToken = try String(contentsOfFile: directory + "/" + LunarEndpoints.agentTokenFileName, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        for name in ["h1", "h2", "h3"] { startAgent(name) }
        try await until("three hosts Up") { try await self.upHosts().count == 3 }
        for host in try await call("listHosts")["host"]!.arrayValue! { hostIDs[host["name"]!.stringValue!] = host["id"]!.stringValue! }
    }

    func startServices() {
        services = Deterministic.task { [core] in
            do {
                try await core.runServices()
            } catch {
                // Cancelled at teardown (or when the process dies).
            }
        }
    }

    func startAgent(_ name: String) {
        let initiator = "iqn.2026-11.sim.host:\(name)"
        var configuration = AgentConfiguration(serverURL: "memory:", token: agentToken, hostName: name, initiatorIQN: initiator)
        configuration.initialBackoff = .milliseconds(200)
        let agent = LunarAgentService(
            configuration: configuration, logger: logger, adaptors: [SimulatedDiskAdaptor(san: san, initiator: initiator)],
            faults: SeededFaults(seed: seed &* 31 &+ UInt64(name.utf8.last ?? 0), rate: faultRate),
            transport: MemoryAgentTransport(slot: slot, host: name, trace: trace), clock: clock
        )
        agents[name] = Deterministic.task {
            do {
                try await agent.run()
            } catch {
                // Cancelled: the host died.
            }
        }
    }

    var agentToken = ""

    var aliveHosts: [String] { agents.filter { !$0.value.isCancelled }.map(\.key).sorted() }
    var downHosts: [String] { agents.filter { $0.value.isCancelled }.map(\.key).sorted() }

    func kill(_ host: String) async throws {
        agents[host]?.cancel()
        await agents[host]?.value
        try await until("host \(host) fenced Down") {
            try await self.call("listHosts", ["name": host])["host"]?.arrayValue?.first?["state"]?.stringValue == "Down"
        }
    }

    func revive(_ host: String) async throws {
        startAgent(host)
        try await until("host \(host) Up again") { try await self.upHosts().contains(host) }
    }

    func run(operations: Int) async throws {
        for step in 0..<operations {
            let outcome = try await operate()
            trace.record("\(step) @\(clock.now.offset.components.seconds)s: \(outcome)")
            let unfenced = san.state.withLock { $0.unfencedWrites }
            guard unfenced == 0 else { throw Failure(description: "\(unfenced) writes accepted without access after step \(step)") }
            try await settle(after: step)
        }
    }

    /// Waits (bounded, virtual time) for the invariant and settled VMs, then asserts them.
    func settle(after step: Int) async throws {
        var last: [String] = []
        for _ in 0..<240 {
            let result = try await call("checkAccessInvariant")["invariant"]?.objectValue
            last = result?["violations"]?.arrayValue?.compactMap(\.stringValue) ?? ["no answer"]
            let unsettled = try await vms().filter { !["Running", "Stopped"].contains($0["state"]?.stringValue ?? "") }
            if last.isEmpty && unsettled.isEmpty { return }
            last += unsettled.map { "VM \($0["name"]?.stringValue ?? "?") is \($0["state"]?.stringValue ?? "?")" }
            try await clock.sleep(for: .milliseconds(500))
        }
        throw Failure(description: "the invariant did not hold 120 virtual seconds after step \(step): \(last)")
    }

    func tearDown() async {
        for task in agents.values { task.cancel() }
        for task in agents.values { await task.value }
        services?.cancel()
        await services?.value
    }
}

/// The world's current database (a restart replaces it).
final class DatabaseBox: @unchecked Sendable {
    // @unchecked: only touched from the simulation's thread, and once after it ended.
    var database: Database
    init(_ database: Database) { self.database = database }
}

/// Blocks the simulation's thread until `body` has run on the global executor: for the few
/// calls whose work is not counted (opening and abandoning a database). Nothing in the
/// simulation runs meanwhile, so the order stays fixed.
func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let done = DispatchSemaphore(value: 0)
    let box = OutcomeBox<T>()
    Task.detached {
        do { box.set(.success(try await body())) } catch { box.set(.failure(error)) }
        done.signal()
    }
    done.wait()
    return try box.value!.get()
}
