import ArgumentParser
import Foundation
import LunarClient
import LunarModel

extension BenchCommand {
    /// Real guests' speed on `lunar up --hypervisor qemu` started by the bench (a child process, in
    /// a temporary folder): deploy to `lunar-guest: ready`, attach to the disk visible in the
    /// guest, live migration (QEMU's total and downtime, p50 over --migrations), and HA from a host
    /// crash (agent and QEMUs killed) to the guest ready elsewhere. The guest's serial console is
    /// the clock's finish line: what it prints is what the guest saw.
    struct QEMUBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "qemu",
            abstract: "Real QEMU guests: deploy-to-ready, attach-to-visible, live migration (total, downtime), HA crash-to-ready.",
            discussion: "Starts `lunar up --hypervisor qemu` in a temporary folder (removed afterwards). Guests run under TCG where /dev/kvm cannot boot them."
        )

        @Option(help: "Deploys to time.") var deploys = 5
        @Option(help: "Hot attaches to time.") var attaches = 10
        @Option(help: "Live migrations to time (the VM goes back and forth).") var migrations = 20
        @Option(help: "Host crashes to time.") var crashes = 1

        func run() async throws {
            guard deploys > 0, attaches >= 0, migrations >= 0, crashes >= 0 else { throw ValidationError("counts are positive") }
            // Short: QMP socket paths under it must fit in 107 bytes.
            let directory = "/tmp/lunar-bq-" + UUID().uuidString.prefix(8).lowercased()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let cloud = try await QEMUBenchCloud.start(directory: directory)
            do {
                try await cloud.measure(deploys: deploys, attaches: attaches, migrations: migrations, crashes: crashes)
            } catch {
                cloud.stop()
                throw error
            }
            cloud.stop()
        }
    }
}

/// A `lunar up --hypervisor qemu` child process and a client of it.
final class QEMUBenchCloud: @unchecked Sendable {
    let process: Process
    let data: String
    let api: LunarAPIClient
    var extraAgents: [Process] = []

    init(process: Process, data: String, api: LunarAPIClient) {
        self.process = process
        self.data = data
        self.api = api
    }

    static func start(directory: String) async throws -> QEMUBenchCloud {
        let data = directory + "/data"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        process.arguments = ["up", "--data", data, "--port", "0", "--portal", "127.0.0.1:0", "--admin-port", "0", "--hypervisor", "qemu", "--log-level", "warning"]
        let log = directory + "/up.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = output
        process.standardError = output
        try process.run()
        // Up once both hosts' agents are registered (the template is ready before they start).
        let deadline = ContinuousClock.now + .seconds(900)
        while ContinuousClock.now < deadline {
            guard process.isRunning else { throw LunarClientError.notConfigured("lunar up exited (\(process.terminationStatus)); see \(log)") }
            if let endpoints = try? JSONDecoder().decode(LunarEndpoints.self, from: Data(contentsOf: URL(fileURLWithPath: data + "/endpoints.json"))),
                endpoints.agents != nil, let client = try? LunarAPIClient.forDataFolder(data)
            {
                let hosts = try await client.call("listHosts")["host"]?.arrayValue ?? []
                if hosts.filter({ $0["state"]?.stringValue == "Up" }).count >= 2 { return QEMUBenchCloud(process: process, data: data, api: client) }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        process.terminate()
        throw LunarClientError.timedOut("lunar up --hypervisor qemu was not ready within 900 s; see \(log)")
    }

    func stop() {
        for agent in extraAgents where agent.isRunning { agent.terminate() }
        process.terminate()
        process.waitUntilExit()
    }

    func job(_ command: String, _ parameters: [String: String]) async throws -> JSONObject {
        let reply = try await api.call(command, parameters)
        guard let jobID = reply["jobid"]?.stringValue else { return reply }
        return try await api.waitForJob(jobID, pollInterval: .milliseconds(20))
    }

    func console(_ vm: String) -> String {
        let text = (try? String(contentsOfFile: data + "/consoles/\(vm).log", encoding: .utf8)) ?? ""
        return text.replacingOccurrences(of: "\r", with: "")
    }

    func count(_ needle: String, in vm: String) -> Int { console(vm).components(separatedBy: needle).count - 1 }

    /// Waits (bounded) until the console has `needle` more than `already` times.
    func waitFor(_ needle: String, in vm: String, beyond already: Int, seconds: Int = 180) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if count(needle, in: vm) > already { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw LunarClientError.timedOut("\(needle) did not appear on VM \(vm)'s console within \(seconds) s")
    }

    func ids() async throws -> (zone: String, service: String, template: String, disk: String, hosts: [String: String]) {
        func first(_ reply: JSONObject, _ key: String, named: String? = nil) throws -> String {
            let items = reply[key]?.arrayValue?.compactMap(\.objectValue) ?? []
            guard let id = items.first(where: { named == nil || $0["name"]?.stringValue == named })?["id"]?.stringValue else {
                throw LunarClientError.badResponse("no \(named ?? key)")
            }
            return id
        }
        let hosts = (try await api.call("listHosts")["host"]?.arrayValue ?? []).compactMap(\.objectValue)
        return (
            try first(try await api.call("listZones"), "zone"), try first(try await api.call("listServiceOfferings"), "serviceoffering", named: "small"),
            try first(try await api.call("listTemplates", ["templatefilter": "featured"]), "template", named: UpAgents.guestTemplateName),
            try first(try await api.call("listDiskOfferings"), "diskoffering", named: "iops-500"),
            Dictionary(uniqueKeysWithValues: hosts.compactMap { host in host["name"]?.stringValue.flatMap { name in host["id"]?.stringValue.map { (name, $0) } } })
        )
    }

    func measure(deploys: Int, attaches: Int, migrations: Int, crashes: Int) async throws {
        let (zone, service, template, disk, hosts) = try await ids()
        let clock = ContinuousClock()
        print("load generator: the test guest's own journal (4 lanes, O_DIRECT + fdatasync) on real QEMU (\(try await accel())), on `lunar up --hypervisor qemu`")
        var deployed: [String] = []
        var jobTimes: [Double] = []
        var readyTimes: [Double] = []
        for index in 0..<deploys {
            let host = index % 2 == 0 ? hosts["host1"]! : hosts["host2"]!
            let start = clock.now
            let result = try await job("deployVirtualMachine", ["zoneid": zone, "serviceofferingid": service, "templateid": template, "diskofferingid": disk, "hostid": host])
            guard let vm = result["virtualmachine"]?["id"]?.stringValue else { throw LunarClientError.badResponse("deploy: \(result)") }
            jobTimes.append(VMBenchRun.milliseconds(clock.now - start))
            try await waitFor("lunar-guest: ready", in: vm, beyond: 0)
            readyTimes.append(VMBenchRun.milliseconds(clock.now - start))
            deployed.append(vm)
        }
        print("deploy (template copy on the SAN, grants, QEMU started), job done:   \(VMBenchRun.percentiles(jobTimes))")
        print("deploy to `lunar-guest: ready` on the console:                       \(VMBenchRun.percentiles(readyTimes))")
        // Keep one guest for the rest; the others go.
        for vm in deployed.dropFirst() { _ = try await job("destroyVirtualMachine", ["id": vm, "expunge": "true"]) }
        let vm = deployed[0]

        var attachJob: [Double] = []
        var attachVisible: [Double] = []
        for _ in 0..<attaches {
            let created = try await job("createVolume", ["zoneid": zone, "diskofferingid": disk])
            guard let volume = created["volume"]?["id"]?.stringValue else { throw LunarClientError.badResponse("createVolume: \(created)") }
            let appeared = count("appeared", in: vm)
            let start = clock.now
            _ = try await job("attachVolume", ["id": volume, "virtualmachineid": vm])
            attachJob.append(VMBenchRun.milliseconds(clock.now - start))
            try await waitFor("appeared", in: vm, beyond: appeared)
            attachVisible.append(VMBenchRun.milliseconds(clock.now - start))
            let gone = count(" gone", in: vm)
            _ = try await job("detachVolume", ["id": volume])
            try await waitFor(" gone", in: vm, beyond: gone)
            _ = try await api.call("deleteVolume", ["id": volume])
        }
        if attaches > 0 {
            print("hot attach (new volume: place, create, grant, blockdev-add, device_add), job done: \(VMBenchRun.percentiles(attachJob))")
            print("hot attach to the disk visible in the guest:                                     \(VMBenchRun.percentiles(attachVisible))")
        }

        var totals: [Double] = []
        var downtimes: [Double] = []
        var jobs: [Double] = []
        var on = try await api.call("listVirtualMachines", ["id": vm])["virtualmachine"]?.arrayValue?.first?["hostname"]?.stringValue ?? "host1"
        for _ in 0..<migrations {
            let target = on == "host1" ? "host2" : "host1"
            let start = clock.now
            let result = try await job("migrateVirtualMachine", ["virtualmachineid": vm, "hostid": hosts[target]!])
            jobs.append(VMBenchRun.milliseconds(clock.now - start))
            guard let migration = result["migration"]?.objectValue, let total = migration["totalms"]?.intValue, let down = migration["downtimems"]?.intValue else {
                throw LunarClientError.badResponse("the migration's job result has no migration figures: \(result)")
            }
            totals.append(Double(total))
            downtimes.append(Double(down))
            on = target
        }
        if migrations > 0 {
            print("live migration, QEMU's total time (journal running):  \(VMBenchRun.percentiles(totals))")
            print("live migration, QEMU's downtime:                      \(VMBenchRun.percentiles(downtimes))")
            print("live migration, the API job (grant, prepare, migrate, resume, fence): \(VMBenchRun.percentiles(jobs))")
            if count("lunar-guest: ready", in: vm) != 1 { print("WARNING: the guest rebooted during the migrations") }
        }

        var haTimes: [Double] = []
        for _ in 0..<crashes {
            let host = try await api.call("listVirtualMachines", ["id": vm])["virtualmachine"]?.arrayValue?.first?["hostname"]?.stringValue ?? "host1"
            let boots = count("lunar-guest: ready", in: vm)
            try kill(host: host)
            let start = clock.now
            try await waitFor("lunar-guest: ready", in: vm, beyond: boots, seconds: 300)
            haTimes.append(VMBenchRun.milliseconds(clock.now - start))
            try await restartAgent(host)
        }
        if crashes > 0 { print("HA, host crash (agent and QEMUs kill -9) to `lunar-guest: ready` elsewhere: \(VMBenchRun.percentiles(haTimes))") }
        _ = try await job("destroyVirtualMachine", ["id": vm, "expunge": "true"])
    }

    func accel() async throws -> String {
        let hosts = try await api.call("listHosts")["host"]?.arrayValue ?? []
        return Set(hosts.compactMap { $0["accel"]?.stringValue }).sorted().joined(separator: ",")
    }

    /// The host fails: its agent and every QEMU it started are killed at once.
    func kill(host: String) throws {
        let endpoints = try JSONDecoder().decode(LunarEndpoints.self, from: Data(contentsOf: URL(fileURLWithPath: data + "/endpoints.json")))
        var pids: [Int32] = []
        if let agent = extraAgents.last(where: { $0.arguments?.contains(host) == true && $0.isRunning }) {
            pids.append(agent.processIdentifier)
        } else if let agent = endpoints.agents?.first(where: { $0.host == host }) {
            pids.append(agent.pid)
        }
        let vms = data + "/agents/\(host)/vm"
        for folder in (try? FileManager.default.contentsOfDirectory(atPath: vms)) ?? [] {
            if let text = try? String(contentsOfFile: "\(vms)/\(folder)/qemu.pid", encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) { pids.append(pid) }
        }
        for pid in pids { Foundation.kill(pid, SIGKILL) }
    }

    /// The crashed host comes back: a new agent (this bench's child), once the server saw it Down.
    func restartAgent(_ host: String) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            let state = try await api.call("listHosts", ["name": host])["host"]?.arrayValue?.first?["state"]?.stringValue
            if state == "Down" || state == "Disconnected" { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        let agent = Process()
        agent.executableURL = process.executableURL
        agent.arguments = ["agent", "--data", data, "--name", host, "--initiator", AgentCommand.defaultInitiator(host), "--hypervisor", "qemu", "--stop-guests-on-exit", "--log-level", "warning"]
        try agent.run()
        extraAgents.append(agent)
        while ContinuousClock.now < deadline + .seconds(60) {
            if try await api.call("listHosts", ["name": host])["host"]?.arrayValue?.first?["state"]?.stringValue == "Up" { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw LunarClientError.timedOut("host \(host) did not come back Up")
    }
}
