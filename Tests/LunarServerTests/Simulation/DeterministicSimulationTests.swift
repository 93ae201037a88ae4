import Foundation
import LunarModel
import Testing

/// The VM flows under seeded faults, deterministic: server, agents and SAN in one process on one
/// thread (`SimulationExecutor`), talking over memory, on a manual clock. A seed replays step for
/// step on any machine (with `SWIFT_DETERMINISTIC_HASHING=1`, which the README's test command
/// sets): `LUNAR_VM_SEED=N swift test --filter DeterministicSimulationTests` runs just that one.
/// `LUNAR_SIM_SEEDS=N` sets how many seeds the sweep runs (1,000 by default).
@Suite(.serialized)
struct DeterministicSimulationTests {
    static let operations = ProcessInfo.processInfo.environment["LUNAR_SIM_OPERATIONS"].flatMap(Int.init) ?? 30

    static var seeds: [UInt64] {
        let environment = ProcessInfo.processInfo.environment
        if let seed = environment["LUNAR_VM_SEED"].flatMap(UInt64.init) { return [seed] }
        let count = environment["LUNAR_SIM_SEEDS"].flatMap(Int.init) ?? 1_000
        return (1...UInt64(max(1, count))).map { $0 }
    }

    @Test func everySeedKeepsTheInvariant() async throws {
        let seeds = Self.seeds
        // Two seeds at a time (two cores); each runs on its own thread.
        var failures: [String] = []
        var deploys = 0
        try await withThrowingTaskGroup(of: (UInt64, Result<[String], any Error>).self) { group in
            var next = seeds.makeIterator()
            func submit() -> Bool {
                guard let seed = next.next() else { return false }
                group.addTask {
                    do {
                        return (seed, .success(try await DeterministicWorld.run(seed: seed, operations: Self.operations)))
                    } catch {
                        return (seed, .failure(error))
                    }
                }
                return true
            }
            _ = submit()
            _ = submit()
            while let (seed, result) = try await group.next() {
                switch result {
                case .success(let trace):
                    if ProcessInfo.processInfo.environment["LUNAR_VM_VERBOSE"] != nil { print("seed \(seed):\n" + trace.joined(separator: "\n")) }
                    if trace.contains(where: { $0.contains("deploy ok") }) { deploys += 1 }
                case .failure(let error):
                    failures.append("seed \(seed): \(error)\nreplay: SWIFT_DETERMINISTIC_HASHING=1 LUNAR_VM_SEED=\(seed) swift test --filter DeterministicSimulationTests")
                }
                _ = submit()
            }
        }
        for failure in failures.prefix(3) { Issue.record(Comment(rawValue: failure)) }
        #expect(failures.isEmpty, "\(failures.count) of \(seeds.count) seeds failed")
        // The runs must have done real work, not skipped their way through.
        #expect(deploys * 10 >= seeds.count * 9, "only \(deploys) of \(seeds.count) seeds deployed a VM")
    }

    /// The same seed twice gives the same trace: every operation, its outcome and virtual time,
    /// and every command the server sent to every host, in order.
    @Test func aSeedReplaysIdentically() async throws {
        let seed = ProcessInfo.processInfo.environment["LUNAR_VM_SEED"].flatMap(UInt64.init) ?? 7
        let first = try await DeterministicWorld.run(seed: seed, operations: Self.operations)
        let second = try await DeterministicWorld.run(seed: seed, operations: Self.operations)
        #expect(first.count > Self.operations)
        if let index = zip(first, second).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset ?? (first.count == second.count ? nil : min(first.count, second.count)) {
            Issue.record("seed \(seed) diverged at line \(index): \(first.dropFirst(index).first ?? "-") vs \(second.dropFirst(index).first ?? "-")")
        }
        // A different seed takes another path (the trace is not constant).
        let other = try await DeterministicWorld.run(seed: seed + 1, operations: Self.operations)
        #expect(other != first)
    }
}
