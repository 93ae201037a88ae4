import LunarModel

/// What the seeded operations need of a simulated cloud, whether its parts talk over real sockets
/// (`SimulationWorld`) or over memory on one thread (`DeterministicWorld`): both draw the same
/// operations from a seed.
protocol SimulatedCloud: AnyObject {
    var random: SplitMix64 { get set }
    var zoneID: String { get }
    var serviceOfferingID: String { get }
    var diskOfferingID: String { get }
    var hostIDs: [String: String] { get }
    /// Agents running now, and those killed (by name, sorted).
    var aliveHosts: [String] { get }
    var downHosts: [String] { get }

    func call(_ command: String, _ parameters: [String: String]) async throws -> JSONObject
    /// Runs an async command to its end: its first reply, and "ok" or "failed: …" (expected under faults).
    func submit(_ command: String, _ parameters: [String: String]) async throws -> (reply: JSONObject, outcome: String)
    /// Kills a host's agent and waits until the server has fenced it Down.
    func kill(_ host: String) async throws
    /// Starts a killed host's agent again and waits until it is Up.
    func revive(_ host: String) async throws
}

extension SimulatedCloud {
    func job(_ command: String, _ parameters: [String: String]) async throws -> String {
        try await submit(command, parameters).outcome
    }

    func vms() async throws -> [JSONObject] {
        (try await call("listVirtualMachines", ["listall": "true"])["virtualmachine"]?.arrayValue ?? []).compactMap(\.objectValue)
    }

    func upHosts() async throws -> [String] {
        (try await call("listHosts", [:])["host"]?.arrayValue ?? []).filter { $0["state"]?.stringValue == "Up" }.compactMap { $0["name"]?.stringValue }
    }

    func pick<T>(_ items: [T]) -> T? {
        items.isEmpty ? nil : items[Int(random.next() % UInt64(items.count))]
    }

    /// One operation drawn from the seed: deploy, stop, start, migrate, attach, detach, a host
    /// dying (only while two others live, so HA has somewhere to go), a host coming back.
    func operate() async throws -> String {
        let vms = try await vms()
        let running = vms.filter { $0["state"]?.stringValue == "Running" }
        let stopped = vms.filter { $0["state"]?.stringValue == "Stopped" }
        let (alive, down) = (aliveHosts, downHosts)
        func name(_ vm: JSONObject) -> String { vm["name"]?.stringValue ?? "?" }
        switch random.next() % 10 {
        case 0, 1:
            return "deploy " + (try await job("deployVirtualMachine", ["zoneid": zoneID, "serviceofferingid": serviceOfferingID, "templateid": Template.builtIn.id.uuid, "diskofferingid": diskOfferingID]))
        case 2:
            guard let vm = pick(running) else { return "skip" }
            return "stop \(name(vm)) " + (try await job("stopVirtualMachine", ["id": vm["id"]!.stringValue!]))
        case 3:
            guard let vm = pick(stopped) else { return "skip" }
            return "start \(name(vm)) " + (try await job("startVirtualMachine", ["id": vm["id"]!.stringValue!]))
        case 4, 5:
            guard let vm = pick(running), let host = vm["hostname"]?.stringValue, let target = pick(alive.filter { $0 != host }), let hostID = hostIDs[target] else { return "skip" }
            return "migrate \(name(vm)) → \(target) " + (try await job("migrateVirtualMachine", ["virtualmachineid": vm["id"]!.stringValue!, "hostid": hostID]))
        case 6:
            guard let vm = pick(running + stopped) else { return "skip" }
            let (volume, created) = try await submit("createVolume", ["zoneid": zoneID, "diskofferingid": diskOfferingID])
            guard created == "ok", let volumeID = volume["id"]?.stringValue else { return "create volume \(created)" }
            return "attach to \(name(vm)) " + (try await job("attachVolume", ["id": volumeID, "virtualmachineid": vm["id"]!.stringValue!]))
        case 7:
            let attached = (try await call("listVolumes", ["listall": "true", "type": "DATADISK"])["volume"]?.arrayValue ?? []).filter { $0["virtualmachineid"] != nil }
            guard let volume = pick(attached) else { return "skip" }
            return "detach \(volume["name"]?.stringValue ?? "?") " + (try await job("detachVolume", ["id": volume["id"]!.stringValue!]))
        case 8:
            guard alive.count >= 3, let victim = pick(alive) else { return "skip" }
            try await kill(victim)
            return "kill \(victim)"
        default:
            guard let revived = pick(down) else { return "skip" }
            try await revive(revived)
            return "revive \(revived)"
        }
    }
}
