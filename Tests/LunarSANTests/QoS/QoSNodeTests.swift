import Foundation
import ISCSI
import LunarClient
import LunarModel
import NIOCore
import Testing

@testable import LunarSAN

/// QoS through a whole node on 127.0.0.1: the admin API, the target's admission, the Swift
/// initiator. Rates are checked only where slowness cannot make a check fail (a cap is an upper
/// bound); the figures themselves come from `lunar bench qos`.
struct QoSNodeTests {
    static let initiator = "iqn.2026-11.org.example:qos"

    /// Keeps `depth` 4 KiB reads in flight for `seconds`; returns how many completed.
    static func saturate(_ session: ISCSIInitiatorSession, depth: Int, seconds: Double) async throws -> Int {
        let end = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        return try await withThrowingTaskGroup(of: Int.self) { group in
            for worker in 0..<depth {
                group.addTask {
                    var done = 0
                    while ContinuousClock.now < end {
                        _ = try await session.read(lba: UInt64(worker * 8), blocks: 8)
                        done += 1
                    }
                    return done
                }
            }
            return try await group.reduce(0, +)
        }
    }

    static func prepare(_ node: SANNodeTests.Node, _ name: String, _ qos: SANVolumeQoS) async throws -> ISCSIInitiatorSession {
        let info = try await node.admin.createVolume(name: name, size: "64M", qos: qos)
        _ = try await node.admin.allow(name, initiator: Self.initiator)
        let session = try await node.login(info.iqn, as: Self.initiator)
        try await session.clearUnitAttentions()
        return session
    }

    @Test func aCapHoldsAndALiveChangeAppliesWithoutReconnecting() async throws {
        try await SANNodeTests.withNode { node in
            let session = try await Self.prepare(node, "capped", SANVolumeQoS(minIOPS: 50, maxIOPS: 200, burstIOPS: 200))
            let started = ContinuousClock.now
            let done = try await Self.saturate(session, depth: 16, seconds: 1.5)
            let took = ContinuousClock.now - started
            let elapsed = Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18
            // At most max × elapsed, plus the few the limit's slack lets through at the start.
            // (Only an upper bound: a loaded machine may deliver less.)
            #expect(Double(done) <= 200 * elapsed + 8, "\(done) reads in \(elapsed) s at max 200")

            // Down to 1 IOPS: ten reads would take at least nine seconds...
            _ = try await node.admin.setQoS("capped", qos: SANVolumeQoS(minIOPS: 1, maxIOPS: 1, burstIOPS: 1))
            let started10 = ContinuousClock.now
            let reads = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<10 { group.addTask { _ = try await session.read(lba: UInt64(index * 8), blocks: 8) } }
                    try await group.waitForAll()
                }
            }
            try await Task.sleep(for: .seconds(1))
            // ...unless the cap is raised on the live session: the queued ones then run at once.
            let raised = try await node.admin.setQoS("capped", qos: SANVolumeQoS(minIOPS: 50, maxIOPS: 100_000, burstIOPS: 100_000))
            #expect(raised.qos == SANVolumeQoS(minIOPS: 50, maxIOPS: 100_000, burstIOPS: 100_000))
            try await reads.value
            #expect(ContinuousClock.now - started10 < .seconds(7), "the raise did not reach the queued commands")
            await session.logout()
        }
    }

    @Test func statisticsAndMetricsFollowTheVolume() async throws {
        try await SANNodeTests.withNode { node in
            let session = try await Self.prepare(node, "counted", SANVolumeQoS(minIOPS: 50, maxIOPS: 100_000, burstIOPS: 100_000))
            for index in 0..<40 { try await session.write(lba: UInt64(index * 8), data: ByteBuffer(repeating: 7, count: 4096)) }
            for index in 0..<60 { _ = try await session.read(lba: UInt64(index * 8), blocks: 8) }
            _ = try await session.inquiry()  // moves no blocks: not an I/O
            let stats = try await node.admin.statistics("counted")
            #expect(stats.totals.ios == 100 && stats.totals.writes == 40 && stats.totals.reads == 60)
            #expect(stats.totals.bytesWritten == 40 * 4096 && stats.totals.bytesRead == 60 * 4096)
            #expect(stats.totals.ios4K == 100 && stats.totals.errors == 0)
            #expect(stats.totalLatencyMicros.samples == 100 && stats.totalLatencyMicros.p50 > 0)
            #expect(stats.qos.maxIOPS == 100_000 && stats.qosEnabled)

            let metrics = try await node.admin.metrics()
            #expect(metrics.contains(#"lunar_volume_ios_total{volume="counted"} 100"#))
            #expect(metrics.contains(#"lunar_volume_max_iops{volume="counted"} 100000"#))
            await session.logout()
            try await Self.waitForNoSessions(node, "counted")
            try await node.admin.deleteVolume("counted")
            // The label goes with the volume.
            #expect(!(try await node.admin.metrics()).contains(#"volume="counted""#))
            let missing = await SANNodeTests.sanError { _ = try await node.admin.statistics("counted") }
            #expect(missing?.code == "volume_not_found")
        }
    }

    static func waitForNoSessions(_ node: SANNodeTests.Node, _ name: String) async throws {
        for _ in 0..<100 where !(try await node.admin.volume(name).sessions.isEmpty) { try await Task.sleep(for: .milliseconds(50)) }
    }

    /// With commands stuck behind a tiny cap, a NOP and a task management request still answer at
    /// once, and the aborted commands never run.
    @Test func nopAndAbortDoNotWaitBehindQoS() async throws {
        try await SANNodeTests.withNode { node in
            let session = try await Self.prepare(node, "slow", SANVolumeQoS(minIOPS: 1, maxIOPS: 2, burstIOPS: 2))
            let reads = Task {
                try await withThrowingTaskGroup(of: Bool.self) { group in
                    for index in 0..<20 {
                        group.addTask {
                            do {
                                _ = try await session.read(lba: UInt64(index * 8), blocks: 8)
                                return true
                            } catch ISCSIInitiatorError.aborted {
                                return false
                            }
                        }
                    }
                    return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
                }
            }
            // Let them reach the target's QoS queue (2 IOPS: nearly all wait).
            var queued = 0
            for _ in 0..<100 where queued < 15 {
                try await Task.sleep(for: .milliseconds(20))
                queued = try await node.admin.statistics("slow").queued
            }
            #expect(queued >= 15)
            let pinged = ContinuousClock.now
            try await session.ping()
            #expect(ContinuousClock.now - pinged < .seconds(2))
            #expect(try await session.abortTaskSet() == .functionComplete)
            let completed = try await reads.value
            #expect(completed < 20)
            let stats = try await node.admin.statistics("slow")
            #expect(stats.queued == 0)
            #expect(stats.totals.ios == UInt64(completed), "aborted commands must never run")
            // The session is still usable, and the window was given back.
            _ = try await node.admin.setQoS("slow", qos: SANVolumeQoS(minIOPS: 1, maxIOPS: 1000, burstIOPS: 1000))
            _ = try await session.read(lba: 0, blocks: 8)
            await session.logout()
        }
    }

    @Test func turningQoSOffStartsEverythingQueued() async throws {
        try await SANNodeTests.withNode { node in
            let session = try await Self.prepare(node, "parked", SANVolumeQoS(minIOPS: 1, maxIOPS: 1, burstIOPS: 1))
            let reads = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in 0..<10 { group.addTask { _ = try await session.read(lba: UInt64(index * 8), blocks: 8) } }
                    try await group.waitForAll()
                }
            }
            for _ in 0..<100 where try await node.admin.statistics("parked").queued < 8 { try await Task.sleep(for: .milliseconds(20)) }
            let off = try await node.admin.updateNodeQoS(enabled: false)
            #expect(!off.enabled)
            try await reads.value  // would take ten seconds at 1 IOPS
            #expect(try await node.admin.statistics("parked").totals.ios == 10)
            #expect(try await node.admin.updateNodeQoS(enabled: true, capacityIOPS: 5000) == SANNodeQoS(enabled: true, capacityIOPS: 5000, capacitySource: "admin"))
            await session.logout()
        }
    }

    @Test func badQoSIsRefusedWithACode() async throws {
        try await SANNodeTests.withNode { node in
            let backwards = await SANNodeTests.sanError {
                _ = try await node.admin.createVolume(name: "v", size: "8M", qos: SANVolumeQoS(minIOPS: 500, maxIOPS: 100, burstIOPS: 100))
            }
            #expect(backwards?.status == 400 && backwards?.code == "invalid_qos")
            _ = try await node.admin.createVolume(name: "v", size: "8M")
            #expect(try await node.admin.volume("v").qos == .unlimited)
            let burstBelowMax = await SANNodeTests.sanError { _ = try await node.admin.setQoS("v", qos: SANVolumeQoS(minIOPS: 1, maxIOPS: 100, burstIOPS: 50)) }
            #expect(burstBelowMax?.code == "invalid_qos")
            let tooMuch = await SANNodeTests.sanError { _ = try await node.admin.updateNodeQoS(capacityIOPS: 5) }
            #expect(tooMuch?.code == "invalid_qos")
            let unknown = await SANNodeTests.sanError { _ = try await node.admin.setQoS("nope", qos: .unlimited) }
            #expect(unknown?.code == "volume_not_found")
            // Nothing stored was lost.
            #expect(try await node.admin.volume("v").qos == .unlimited)
        }
    }

    @Test func qosSurvivesARestart() async throws {
        let folder = VolumeStoreTests.folder()
        try await SANNodeTests.withNode(dataDirectory: folder) { node in
            _ = try await node.admin.createVolume(name: "kept", size: "8M", qos: SANVolumeQoS(minIOPS: 10, maxIOPS: 20, burstIOPS: 30))
        }
        try await SANNodeTests.withNode(dataDirectory: folder) { node in
            let volume = try await node.admin.volume("kept")
            let stats = try await node.admin.statistics("kept")
            #expect(volume.qos == SANVolumeQoS(minIOPS: 10, maxIOPS: 20, burstIOPS: 30))
            #expect(stats.qos.burstIOPS == 30)
        }
    }

    /// Without a configured capacity the first start measures one and later starts reuse it.
    @Test func capacityIsCalibratedOnceAndKept() async throws {
        let folder = VolumeStoreTests.folder()
        var configuration = SANConfiguration(dataDirectory: folder)
        configuration.capacityIOPS = nil
        let first = try CapacityCalibration.capacity(configuration: configuration, logger: VolumeStoreTests.quiet)
        #expect(first.capacitySource == "calibrated" && first.capacityIOPS >= 100)
        #expect(FileManager.default.fileExists(atPath: configuration.capacityFile))
        let second = try CapacityCalibration.capacity(configuration: configuration, logger: VolumeStoreTests.quiet)
        #expect(second == first)
        configuration.capacityIOPS = 1234
        #expect(try CapacityCalibration.capacity(configuration: configuration, logger: VolumeStoreTests.quiet).capacityIOPS == 1234)
    }
}
