import Foundation
import Logging
import LunarClient
import LunarModel
@testable import LunarServer
import Synchronization
import Testing

/// Failure injection at every step of every VM flow, table-driven: each flow (start, stop,
/// attach, detach, migrate) is run once to learn its steps, then again for every step N and every
/// way it can fail there — the step fails before its work, its work is done but the answer is lost,
/// or the SAN becomes unreachable from that step on (until the job ends). Every run must end with
/// DESIGN.md's invariant holding, no VM or volume in a transitional state, no write accepted from a
/// host without access, and the pools' capacity accounting exact. Real server and agents over
/// WebSockets, the simulated SAN in memory. (A server that dies after step N is exercised by the
/// system tests, which kill real processes mid-attach and mid-migration.)
@Suite(.serialized)
struct FlowFailureTests {
    enum Mode: String, CaseIterable, Sendable {
        case failBefore = "fails before its work"
        case failAfter = "does its work, the answer is lost"
        case sanUnreachable = "the SAN is unreachable from there on"
    }

    /// Fires once at the N-th step (undo steps not counted) of the next job; records step names.
    final class ArmedFault: StepFaults {
        struct State {
            var armed: (step: Int, mode: Mode)?
            var count = 0
            var seen: [String] = []
            var fired: String?
        }

        let state = Mutex(State())
        let san: SimulatedSAN

        init(san: SimulatedSAN) { self.san = san }

        func arm(step: Int?, mode: Mode) {
            state.withLock { $0 = State(armed: step.map { ($0, mode) }) }
        }

        func beforeStep(_ name: String) async throws {
            guard !name.hasPrefix("undo: ") else { return }
            let fire: Mode? = state.withLock { state in
                state.seen.append(name)
                defer { state.count += 1 }
                guard let armed = state.armed, armed.step == state.count, armed.mode != .failAfter else { return nil }
                state.armed = nil
                state.fired = name
                return armed.mode
            }
            switch fire {
            case .failBefore?: throw LunarError(.internalError, "injected: \(name) failed")
            case .sanUnreachable?: san.setUnreachable(true)
            default: break
            }
        }

        func afterStep(_ name: String) async throws {
            guard !name.hasPrefix("undo: ") else { return }
            let fire = state.withLock { state -> Bool in
                guard let armed = state.armed, armed.mode == .failAfter, armed.step == state.count - 1 else { return false }
                state.armed = nil
                state.fired = name
                return true
            }
            if fire { throw LunarError(.internalError, "injected: the answer to \(name) was lost") }
        }

        func reset() -> (seen: [String], fired: String?) {
            san.setUnreachable(false)
            return state.withLock { state in
                defer { state = State() }
                return (state.seen, state.fired)
            }
        }
    }

    enum Flow: String, CaseIterable, Sendable {
        case start, stop, attach, detach, migrate
    }

    /// Tells the test the pools' accounting mismatches (must stay empty).
    static let accounting = APICommand(
        name: "testPoolAccounting", description: "test only", access: .rootAdmin, parameters: [], responseName: "accounting", responseFields: [],
        execution: .sync { call in
            .object(name: "accounting", JSONObject(["mismatches": .array(try await call.server.store.poolAccountingMismatches().map(JSONValue.string))]))
        }
    )

    @Test func everyStepOfEveryFlowFailsCleanly() async throws {
        let san = SimulatedSAN(seed: 11, refusalRate: 0)
        let faults = ArmedFault(san: san)
        try await TestSupport.withServer(
            extraCommands: [Self.accounting],
            extraProviders: [SimulatedStorageProvider(san: san)],
            stepFaults: faults,
            configure: {
                $0.agentHeartbeatMilliseconds = 100
                $0.agentTimeoutScale = 0.2
            },
            // LUNAR_TEST_LOG=1 shows the server's log.
            logger: ProcessInfo.processInfo.environment["LUNAR_TEST_LOG"] != nil ? Logger(label: "server") : TestSupport.quietLogger
        ) { server in
            let world = try await SimulationWorld(server: server, san: san, seed: 11, faultRate: 0)
            var cases = 0
            for flow in Flow.allCases {
                // Learn the flow's steps from a run without faults.
                faults.arm(step: nil, mode: .failBefore)
                let clean = try await Self.run(flow, in: world, faults: faults)
                #expect(clean.outcome == "ok", "\(flow) without faults: \(clean.outcome)")
                let steps = clean.steps
                #expect(!steps.isEmpty, "\(flow) journals its steps")
                try await Self.check(world, after: "\(flow) without faults")
                for index in steps.indices {
                    for mode in Mode.allCases {
                        faults.arm(step: index, mode: mode)
                        let run = try await Self.run(flow, in: world, faults: faults)
                        let label = "\(flow), step \(index) (\(run.fired ?? steps[index])) \(mode.rawValue): \(run.outcome)"
                        world.log.append(label)
                        try await Self.check(world, after: label)
                        cases += 1
                    }
                }
            }
            #expect(cases >= 40, "the table covers every step: \(cases) cases\n\(world.log.joined(separator: "\n"))")
            await world.shutdown()
        }
    }

    /// Sets up a fresh VM for `flow`, runs the flow's job with whatever fault is armed, and
    /// returns the job's outcome with the steps it took. The VM is destroyed afterwards.
    static func run(_ flow: Flow, in world: SimulationWorld, faults: ArmedFault) async throws -> (outcome: String, steps: [String], fired: String?) {
        let admin = world.server.admin
        let armed = faults.state.withLock { $0.armed }
        faults.arm(step: nil, mode: .failBefore)  // the set-up runs without faults
        var deploy = ["zoneid": world.zoneID, "serviceofferingid": world.serviceOfferingID, "templateid": Template.builtIn.id.uuid]
        if flow == .start { deploy["startvm"] = "false" }
        if flow == .detach { deploy["diskofferingid"] = world.diskOfferingID }
        let deployed = try await admin.call("deployVirtualMachine", deploy)
        let vm = try await admin.waitForJob(try #require(deployed["jobid"]?.stringValue), pollInterval: .milliseconds(20))
        let vmID = try #require(vm["virtualmachine"]?["id"]?.stringValue)
        let host = vm["virtualmachine"]?["hostname"]?.stringValue
        var volumeID: String?
        if flow == .attach {
            let volume = try await admin.call("createVolume", ["zoneid": world.zoneID, "diskofferingid": world.diskOfferingID])
            _ = try await admin.waitForJob(try #require(volume["jobid"]?.stringValue), pollInterval: .milliseconds(20))
            volumeID = volume["id"]?.stringValue
        }
        if flow == .detach {
            volumeID = try await admin.call("listVolumes", ["virtualmachineid": vmID, "type": "DATADISK", "listall": "true"])["volume"]?.arrayValue?.first?["id"]?.stringValue
        }
        _ = faults.reset()
        if let armed { faults.arm(step: armed.step, mode: armed.mode) } else { faults.arm(step: nil, mode: .failBefore) }

        let outcome: String
        switch flow {
        case .start: outcome = try await world.job("startVirtualMachine", ["id": vmID])
        case .stop: outcome = try await world.job("stopVirtualMachine", ["id": vmID])
        case .attach: outcome = try await world.job("attachVolume", ["id": try #require(volumeID), "virtualmachineid": vmID])
        case .detach: outcome = try await world.job("detachVolume", ["id": try #require(volumeID)])
        case .migrate:
            let target = try #require(world.hostIDs.first { $0.key != host }?.value)
            outcome = try await world.job("migrateVirtualMachine", ["virtualmachineid": vmID, "hostid": target])
        }
        let (steps, fired) = faults.reset()
        world.log.append("    \(flow) at \(fired ?? "-"): \(outcome)")
        // Let the system settle (a failed fence is retried once the SAN answers), then clean up.
        try await world.settle(after: world.log.count)
        _ = try await world.job("destroyVirtualMachine", ["id": vmID])
        if let volumeID, flow == .attach || flow == .detach { _ = try await admin.call("deleteVolume", ["id": volumeID]) }
        return (outcome, steps, fired)
    }

    /// The invariant, settled states, no unfenced write, exact accounting.
    static func check(_ world: SimulationWorld, after label: String) async throws {
        try await world.settle(after: world.log.count)
        try world.checkNoUnfencedWrites()
        let volumes = try await world.server.admin.call("listVolumes", ["listall": "true"])["volume"]?.arrayValue ?? []
        let stuck = volumes.filter { !["Allocated", "Ready"].contains($0["state"]?.stringValue ?? "") }
        #expect(stuck.isEmpty, "\(label): volumes left \(stuck.map { "\($0["name"]?.stringValue ?? "?") \($0["state"]?.stringValue ?? "?")" })")
        let mismatches = try await world.server.admin.call("testPoolAccounting")["accounting"]?["mismatches"]?.arrayValue ?? []
        #expect(mismatches.isEmpty, "\(label): accounting \(mismatches)")
    }
}
