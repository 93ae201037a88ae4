import Foundation
import LunarModel
@testable import LunarServer
import Synchronization
import Testing

/// The failure table's third row: the server dies after step N of every VM flow — the step's
/// work done, its `done` row never written — and a new server process on the same database
/// carries the job on (`FlowRecovery`). Deterministic (one thread, manual clock, agents over
/// memory); each case must end with the job finished (not pending), the invariant holding, no VM
/// or volume in a transitional state, no write from a host without access, and exact capacity.
@Suite(.serialized)
struct ServerCrashTests {
    /// Kills the server once, after the N-th step (undo steps not counted) of the next job.
    final class CrashAfterStep: StepFaults {
        struct State {
            var armed: Int?
            var count = 0
            var seen: [String] = []
            var fired: String?
        }

        let state = Mutex(State())
        let onCrash = Mutex<(@Sendable () throws -> Void)?>(nil)

        struct ServerDied: Error {}

        func arm(_ step: Int?) { state.withLock { $0 = State(armed: step) } }
        var fired: String? { state.withLock { $0.fired } }
        var seen: [String] { state.withLock { $0.seen } }

        func beforeStep(_ name: String) async throws {
            guard !name.hasPrefix("undo: ") else { return }
            state.withLock { state in
                state.seen.append(name)
                state.count += 1
            }
        }

        func afterStep(_ name: String) async throws {
            guard !name.hasPrefix("undo: ") else { return }
            let fire = state.withLock { state -> Bool in
                guard let armed = state.armed, armed == state.count - 1 else { return false }
                state.armed = nil
                state.fired = name
                return true
            }
            guard fire else { return }
            try onCrash.withLock { $0 }?()
            throw ServerDied()
        }
    }

    @Test func theServerDiesAfterEveryStepOfEveryFlow() async throws {
        let verbose = ProcessInfo.processInfo.environment["LUNAR_VM_VERBOSE"] != nil
        let faults = CrashAfterStep()
        let log = try await DeterministicWorld.simulate(
            seed: 21, faultRate: 0, grantRefusalRate: 0, persistent: true, extraCommands: [FlowFailureTests.accounting], stepFaults: faults
        ) { world in
            faults.onCrash.withLock { $0 = { try world.crash() } }
            var log: [String] = []
            for flow in FlowFailureTests.Flow.allCases {
                let clean = try await Self.run(flow, in: world, faults: faults, crashAt: nil)
                guard clean.outcome == "ok", !clean.steps.isEmpty else { throw DeterministicWorld.Failure(description: "\(flow) without a crash: \(clean)") }
                try await Self.check(world, after: "\(flow) without a crash")
                for index in clean.steps.indices {
                    let run = try await Self.run(flow, in: world, faults: faults, crashAt: index)
                    let label = "\(flow), the server dies after step \(index) (\(run.fired ?? clean.steps[index])): \(run.outcome)"
                    log.append(label)
                    if verbose { print(label) }
                    guard run.fired != nil else { throw DeterministicWorld.Failure(description: "\(label): the crash did not happen") }
                    try await Self.check(world, after: label)
                }
            }
            return log
        }
        #expect(log.count >= 15, "the table covers every step: \(log.joined(separator: "\n"))")
        if ProcessInfo.processInfo.environment["LUNAR_VM_VERBOSE"] != nil { print(log.joined(separator: "\n")) }
    }

    /// A fresh VM for `flow`; the flow's job with the crash armed at `crashAt`; the job followed
    /// to its end on whichever server runs then; the VM destroyed afterwards.
    static func run(_ flow: FlowFailureTests.Flow, in world: DeterministicWorld, faults: CrashAfterStep, crashAt: Int?) async throws -> (outcome: String, steps: [String], fired: String?) {
        faults.arm(nil)
        var deploy = ["zoneid": world.zoneID, "serviceofferingid": world.serviceOfferingID, "templateid": Template.builtIn.id.uuid]
        if flow == .start { deploy["startvm"] = "false" }
        if flow == .detach { deploy["diskofferingid"] = world.diskOfferingID }
        let deployed = try await world.call("deployVirtualMachine", deploy)
        if let failure = try await world.waitForJob(deployed["jobid"]!.stringValue!) { throw DeterministicWorld.Failure(description: "deploy: \(failure)") }
        let vmID = deployed["id"]!.stringValue!
        let vm = try await world.call("listVirtualMachines", ["id": vmID])["virtualmachine"]!.arrayValue![0]
        var volumeID: String?
        if flow == .attach {
            let volume = try await world.call("createVolume", ["zoneid": world.zoneID, "diskofferingid": world.diskOfferingID])
            _ = try await world.waitForJob(volume["jobid"]!.stringValue!)
            volumeID = volume["id"]?.stringValue
        }
        if flow == .detach {
            volumeID = try await world.call("listVolumes", ["virtualmachineid": vmID, "type": "DATADISK", "listall": "true"])["volume"]?.arrayValue?.first?["id"]?.stringValue
        }
        faults.arm(crashAt)
        let submitted: JSONObject
        switch flow {
        case .start: submitted = try await world.call("startVirtualMachine", ["id": vmID])
        case .stop: submitted = try await world.call("stopVirtualMachine", ["id": vmID])
        case .attach: submitted = try await world.call("attachVolume", ["id": volumeID!, "virtualmachineid": vmID])
        case .detach: submitted = try await world.call("detachVolume", ["id": volumeID!])
        case .migrate:
            let host = vm["hostname"]?.stringValue
            submitted = try await world.call("migrateVirtualMachine", ["virtualmachineid": vmID, "hostid": world.hostIDs.sorted { $0.key < $1.key }.first { $0.key != host }!.value])
        }
        let jobID = submitted["jobid"]!.stringValue!
        // Until the job ends, or its server dies (then a new one takes it on).
        var interval = Duration.milliseconds(20)
        while faults.fired == nil {
            let job = try await world.call("queryAsyncJobResult", ["jobid": jobID])
            if job["jobstatus"]?.intValue != 0 { break }
            try await world.clock.sleep(for: interval)
            interval = min(interval * 2, .seconds(1))
        }
        let fired = faults.fired
        if fired != nil { try await world.restart() }
        let failure = try await world.waitForJob(jobID)
        let steps = faults.seen
        faults.arm(nil)
        try await world.settle(after: 0)
        _ = try await world.job("destroyVirtualMachine", ["id": vmID])
        if let volumeID, flow == .attach || flow == .detach { _ = try await world.call("deleteVolume", ["id": volumeID]) }
        return (failure.map { "failed: \($0.prefix(120))" } ?? "ok", steps, fired)
    }

    static func check(_ world: DeterministicWorld, after label: String) async throws {
        try await world.settle(after: 0)
        let unfenced = world.san.state.withLock { $0.unfencedWrites }
        let volumes = try await world.call("listVolumes", ["listall": "true"])["volume"]?.arrayValue ?? []
        let stuck = volumes.filter { !["Allocated", "Ready"].contains($0["state"]?.stringValue ?? "") }
        let mismatches = try await world.call("testPoolAccounting")["accounting"]?["mismatches"]?.arrayValue ?? []
        let pending = (try await world.call("listAsyncJobs", ["listall": "true"])["asyncjobs"]?.arrayValue ?? []).filter { $0["jobstatus"]?.intValue == 0 }
        guard unfenced == 0, stuck.isEmpty, mismatches.isEmpty, pending.isEmpty else {
            throw DeterministicWorld.Failure(
                description: "\(label): unfenced writes \(unfenced), volumes left \(stuck.map { "\($0["name"]?.stringValue ?? "?") \($0["state"]?.stringValue ?? "?")" }), accounting \(mismatches), pending jobs \(pending.count)"
            )
        }
    }
}
