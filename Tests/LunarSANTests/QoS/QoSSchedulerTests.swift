import Foundation
import LunarModel
import Testing

@testable import LunarSAN

/// The scheduler's guarantees under deterministic simulation. Each property runs over many seeds;
/// a failure names its seed, and `LUNAR_QOS_SEED=<seed>` replays just that one.
struct QoSSchedulerTests {
    static var seeds: [UInt64] {
        if let one = ProcessInfo.processInfo.environment["LUNAR_QOS_SEED"].flatMap(UInt64.init) { return [one] }
        return Array(1...24)
    }

    static let mixedSizes = [4096, 4096, 4096, 8192, 16_384, 65_536, 131_072, 1 << 20]

    @Test func costCurveInterpolatesBetweenItsPoints() throws {
        let curve = QoSCostCurve.standard
        #expect(curve.cost(bytes: 512) == 1)
        #expect(curve.cost(bytes: 4096) == 1)
        #expect(abs(curve.cost(bytes: 6144) - 1.3) < 1e-9)
        #expect(curve.cost(bytes: 1 << 20) == 150)
        #expect(curve.cost(bytes: 2 << 20) == 300)
        #expect(throws: QoSCostCurve.Invalid.self) { try QoSCostCurve([.init(bytes: 8192, cost: 2), .init(bytes: 4096, cost: 1)]) }
    }

    /// A volume with max 1,000 never delivers more than 1.01 × 1,000 in any 1-second window (sliding
    /// by 100 ms) and at least 0.97 × 1,000 on average while it has work, whatever its sizes.
    @Test(arguments: seeds) func capHoldsInEveryWindow(seed: UInt64) {
        var random = SplitMix64(state: seed)
        let depth = 1 + Int(random.next() % 32)
        let sizes = seed % 2 == 0 ? [4096] : [4096, 8192, 16_384]
        var simulation = QoSSimulation(
            capacityIOPS: nil,
            clients: [.init(volume: 1, qos: SANVolumeQoS(minIOPS: 100, maxIOPS: 1000, burstIOPS: 1000), queueDepth: depth, sizes: sizes)],
            seed: seed
        )
        simulation.run(seconds: 12)
        let windows = simulation.windows(0, seconds: 1, step: 0.1, to: 12)
        // One I/O may straddle a window edge: allow its cost on top of the 1 %.
        #expect(windows.max()! <= 1010 + 2.7, "seed \(seed): a window delivered \(windows.max()!)")
        let average = simulation.average(0, from: 1, to: 12)
        #expect(average >= 970, "seed \(seed): average \(average) with queue depth \(depth)")
    }

    /// Four victims (min 500) and eight noisy neighbours at high queue depth with random sizes, on
    /// a node whose capacity makes minimums sum to 0.9 × capacity: every victim gets ≥ 0.95 × its
    /// minimum in every 10-second window.
    @Test(arguments: seeds) func minimumsHoldAgainstNoisyNeighbours(seed: UInt64) {
        var random = SplitMix64(state: seed &* 7919)
        var clients: [QoSSimulation.Client] = []
        for victim in 0..<4 {
            clients.append(
                .init(volume: victim, qos: SANVolumeQoS(minIOPS: 500, maxIOPS: 5000, burstIOPS: 10_000), queueDepth: 1 + Int(random.next() % 4))
            )
        }
        var noisyMinimums = 0
        for noisy in 0..<8 {
            let minimum = 50 + Int(random.next() % 200)
            noisyMinimums += minimum
            clients.append(
                .init(
                    volume: 100 + noisy, qos: SANVolumeQoS(minIOPS: minimum, maxIOPS: 100_000, burstIOPS: 100_000),
                    queueDepth: 32 + Int(random.next() % 96), sizes: Self.mixedSizes
                )
            )
        }
        let capacity = Double(4 * 500 + noisyMinimums) / 0.9
        var simulation = QoSSimulation(capacityIOPS: capacity, clients: clients, seed: seed)
        simulation.run(seconds: 30)
        for victim in 0..<4 {
            let windows = simulation.windows(victim, seconds: 10, to: 30)
            #expect(windows.allSatisfy { $0 >= 475 }, "seed \(seed): victim \(victim) got \(windows)")
        }
        // And the node was really kept at its capacity, not above.
        var total = 0.0
        for index in clients.indices { total += simulation.average(index, from: 1, to: 30) }
        #expect(total <= capacity * 1.01 && total >= capacity * 0.9, "seed \(seed): node delivered \(total) of \(capacity)")
    }

    /// Spare capacity goes in proportion to minimums.
    @Test(arguments: seeds.prefix(8)) func spareCapacityFollowsMinimums(seed: UInt64) {
        let clients: [QoSSimulation.Client] = [
            .init(volume: 1, qos: SANVolumeQoS(minIOPS: 100, maxIOPS: 100_000, burstIOPS: 100_000), queueDepth: 64),
            .init(volume: 2, qos: SANVolumeQoS(minIOPS: 300, maxIOPS: 100_000, burstIOPS: 100_000), queueDepth: 64),
        ]
        var simulation = QoSSimulation(capacityIOPS: 4000, clients: clients, seed: seed)
        simulation.run(seconds: 10)
        let small = simulation.average(0, from: 1, to: 10)
        let large = simulation.average(1, from: 1, to: 10)
        #expect(abs(large / small - 3) < 0.3, "seed \(seed): \(small) vs \(large)")
    }

    /// Idle 30 s, then saturating: ≈30 s at the burst rate (±10 %), then back to max.
    @Test(arguments: seeds.prefix(6)) func burstCreditsBuyAsLongAsTheIdleTime(seed: UInt64) {
        let clients: [QoSSimulation.Client] = [
            .init(volume: 1, qos: SANVolumeQoS(minIOPS: 100, maxIOPS: 1000, burstIOPS: 2000), queueDepth: 16, activeFrom: 30)
        ]
        var simulation = QoSSimulation(capacityIOPS: nil, clients: clients, seed: seed)
        simulation.run(seconds: 80)
        let perSecond = simulation.windows(0, seconds: 1, from: 30, to: 80)
        let bursting = perSecond.filter { $0 > 1500 }.count
        #expect((27...33).contains(bursting), "seed \(seed): \(bursting) s above 1,500 IOPS: \(perSecond.map { Int($0) })")
        #expect(perSecond.prefix(25).allSatisfy { $0 >= 1900 && $0 <= 2030 }, "seed \(seed): \(perSecond.map { Int($0) })")
        #expect(perSecond.suffix(12).allSatisfy { $0 >= 950 && $0 <= 1030 }, "seed \(seed): \(perSecond.map { Int($0) })")
    }

    /// Credits never exceed 60 s, however long the idle.
    @Test func creditsAreCapped() {
        var scheduler = QoSScheduler(configuration: .init())
        scheduler.setQoS(SANVolumeQoS(minIOPS: 10, maxIOPS: 100, burstIOPS: 200), for: 1, now: 0)
        let credit = scheduler.creditSeconds(of: 1, now: 3_600_000_000_000)
        #expect(credit == 60)
    }

    /// A QoS change shows in the next 1-second window.
    @Test(arguments: seeds.prefix(6)) func qosChangeAppliesWithinASecond(seed: UInt64) {
        var simulation = QoSSimulation(
            capacityIOPS: nil,
            clients: [.init(volume: 1, qos: SANVolumeQoS(minIOPS: 100, maxIOPS: 1000, burstIOPS: 1000), queueDepth: 32)], seed: seed
        )
        simulation.run(seconds: 5)
        simulation.scheduler.setQoS(SANVolumeQoS(minIOPS: 100, maxIOPS: 3000, burstIOPS: 3000), for: 1, now: simulation.now)
        simulation.run(seconds: 7)
        let after = simulation.windows(0, seconds: 1, from: 5, to: 7)
        #expect(after.allSatisfy { $0 >= 2900 && $0 <= 3030 }, "seed \(seed): \(after)")
        simulation.scheduler.setQoS(SANVolumeQoS(minIOPS: 100, maxIOPS: 500, burstIOPS: 500), for: 1, now: simulation.now)
        simulation.run(seconds: 9)
        let lowered = simulation.windows(0, seconds: 1, from: 7.1, to: 9)
        #expect(lowered.allSatisfy { $0 <= 505 + 1 && $0 >= 480 }, "seed \(seed): \(lowered)")
    }

    /// A cancelled request never runs; a removed volume's requests come back.
    @Test func cancelledAndRemovedRequestsNeverRun() {
        var scheduler = QoSScheduler(configuration: .init(capacityIOPS: 1000))
        scheduler.setQoS(SANVolumeQoS(minIOPS: 10, maxIOPS: 10, burstIOPS: 10), for: 1, now: 0)
        scheduler.setQoS(SANVolumeQoS(minIOPS: 10, maxIOPS: 10, burstIOPS: 10), for: 2, now: 0)
        for id in 1...5 { _ = scheduler.enqueue(UInt64(id), volume: 1, cost: 1, now: 0) }
        for id in 6...8 { _ = scheduler.enqueue(UInt64(id), volume: 2, cost: 1, now: 0) }
        let firstCancel = scheduler.cancel(3)
        let secondCancel = scheduler.cancel(3)
        #expect(firstCancel && !secondCancel)
        let removed = scheduler.removeVolume(2)
        #expect(removed.sorted() == [6, 7, 8])
        var ran: [UInt64] = []
        var now: Int64 = 0
        while let next = scheduler.nextEligibleTime {
            now = max(now, next)
            ran += scheduler.dispatch(now: now).map(\.request)
        }
        #expect(ran == [1, 2, 4, 5])
        let accepted = scheduler.enqueue(9, volume: 2, cost: 1, now: now)
        #expect(!accepted)
    }

    /// The same seed gives the same dispatch order, tag for tag.
    @Test func aSeedReplaysExactly() {
        func trace(_ seed: UInt64) -> [QoSScheduler.Dispatch] {
            var clients: [QoSSimulation.Client] = []
            for index in 0..<6 {
                clients.append(
                    .init(
                        volume: index, qos: SANVolumeQoS(minIOPS: 100 * (index + 1), maxIOPS: 2000, burstIOPS: 3000), queueDepth: 8,
                        sizes: Self.mixedSizes
                    )
                )
            }
            var simulation = QoSSimulation(capacityIOPS: 5000, clients: clients, seed: seed)
            simulation.recordTrace = true
            simulation.run(seconds: 3)
            return simulation.dispatches
        }
        #expect(trace(42) == trace(42))
        #expect(trace(42) != trace(43))
    }
}
