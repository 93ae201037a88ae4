import ArgumentParser
import Foundation
import ISCSI
import LunarClient
import LunarModel
import NIOCore

extension BenchCommand {
    /// `lunar bench qos`: the noisy-neighbour experiment and the other QoS figures, against a
    /// running node, with Lunar's own initiator. Volumes it makes are named `qb-*` and deleted at
    /// the end; the node's QoS switch and capacity are put back as they were.
    struct QoSBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "qos",
            abstract: "QoS against a running SAN node: cap, minimums under noisy neighbours (QoS off, then on), burst, overhead, live change.",
            discussion: """
                lunar up, then: lunar bench qos            (finds the node through --data / $LUNAR_DATA)
                or: lunar bench qos --admin URL --token T --portal HOST:PORT
                """
        )

        @OptionGroup var node: SANClientOptions
        @Option(help: "The node's iSCSI portal HOST:PORT (default: san_portal in the data folder's endpoints.json).") var portal: String?
        @Option(help: "Experiments to run, comma-separated: cap, minimum, burst, overhead, change.") var experiments = "cap,minimum,burst,overhead,change"
        @Option(help: "Seconds each QoS mode of the minimum experiment runs (10-second windows).") var minimumSeconds: Double = 30
        @Option(help: "Victim volumes in the minimum experiment (min 500, max 5,000, queue depth 1).") var victims = 4
        @Option(help: "Noisy volumes in the minimum experiment (min 100, queue depth 64).") var noisy = 8
        @Option(help: "Seconds the burst volume idles before it saturates.") var burstIdle: Double = 30
        @Option(help: "Seconds of the overhead experiment per round (QoS is switched every second).") var overheadSeconds: Double = 10
        @Option(help: "Rounds of the overhead experiment (each round: --overhead-seconds on and as many off).") var rounds = 2
        @Option(help: "Initiator name the loads log in with.") var initiatorName = "iqn.2026-11.org.lunar:qos-bench"
        @Option(help: "Random seed.") var seed: UInt64 = 1

        static let all = ["cap", "minimum", "burst", "overhead", "change"]

        func run() async throws {
            let chosen = experiments.split(separator: ",").map(String.init)
            guard !chosen.isEmpty, chosen.allSatisfy(Self.all.contains) else {
                throw ValidationError("--experiments: choose from \(Self.all.joined(separator: ", "))")
            }
            guard minimumSeconds >= 10, burstIdle >= 5, overheadSeconds >= 1, (1...9).contains(rounds), (1...32).contains(victims), (0...64).contains(noisy) else {
                throw ValidationError("--minimum-seconds ≥ 10, --burst-idle ≥ 5, --overhead-seconds ≥ 1, --rounds 1 to 9, --victims 1 to 32, --noisy 0 to 64")
            }
            let client = try node.client()
            let bench = try QoSBenchRun(client: client, portal: try portalAddress(), initiatorName: initiatorName, seed: seed)
            let original = try await client.nodeQoS()
            print("node: QoS \(original.enabled ? "on" : "off"), capacity \(original.capacityIOPS) IOPS (\(original.capacitySource))\n")
            var verdicts: [(String, Bool, String)] = []
            do {
                for experiment in Self.all where chosen.contains(experiment) {
                    switch experiment {
                    case "cap": verdicts += try await bench.cap()
                    case "minimum": verdicts += try await bench.minimum(seconds: minimumSeconds, victims: victims, noisy: noisy, original: original)
                    case "burst": verdicts += try await bench.burst(idle: burstIdle)
                    case "overhead": verdicts += try await bench.overhead(seconds: overheadSeconds, rounds: rounds, original: original)
                    default: verdicts += try await bench.change()
                    }
                }
            } catch {
                // The node's QoS is put back before the error is told; if it cannot be, say so loudly.
                do {
                    _ = try await client.updateNodeQoS(enabled: original.enabled, capacityIOPS: original.capacityIOPS)
                } catch let restore {
                    FileHandle.standardError.write(Data("lunar bench: could not restore the node's QoS (\(restore)); run: lunar san qos --capacity-iops \(original.capacityIOPS) \(original.enabled ? "--enable" : "--disable")\n".utf8))
                }
                await bench.cleanUp()
                throw error
            }
            _ = try await client.updateNodeQoS(enabled: original.enabled, capacityIOPS: original.capacityIOPS)
            await bench.cleanUp()
            print("\n== verdicts")
            for (name, passed, detail) in verdicts { print("\(passed ? "PASS" : "FAIL")  \(name): \(detail)") }
            if verdicts.contains(where: { !$0.1 }) { throw ExitCode(1) }
        }

        func portalAddress() throws -> (host: String, port: Int) {
            var text = portal
            if text == nil {
                let folder = node.data ?? ProcessInfo.processInfo.environment["LUNAR_DATA"] ?? "./lunar-data"
                let file = (folder as NSString).appendingPathComponent(LunarEndpoints.fileName)
                if let data = FileManager.default.contents(atPath: file) { text = try JSONDecoder().decode(LunarEndpoints.self, from: data).sanPortal }
            }
            guard let text, let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else {
                throw ValidationError("give --portal HOST:PORT (no san_portal found in the data folder)")
            }
            return (String(text[..<colon]), port)
        }
    }
}

/// The experiments of `lunar bench qos`, each returning its verdicts.
final class QoSBenchRun: @unchecked Sendable {
    let client: SANAdminClient
    let portal: (host: String, port: Int)
    let initiatorName: String
    var seed: UInt64
    var sessions: [String: ISCSIInitiatorSession] = [:]
    let spanBytes: UInt64 = 64 << 20

    init(client: SANAdminClient, portal: (host: String, port: Int), initiatorName: String, seed: UInt64) throws {
        self.client = client
        self.portal = portal
        self.initiatorName = initiatorName
        self.seed = seed
    }

    func volume(_ name: String, _ qos: SANVolumeQoS) async throws -> ISCSIInitiatorSession {
        // A leftover of an interrupted run ("not found" and "unreachable" told apart by listing).
        if let existing = try await client.listVolumes().first(where: { $0.name == name }) {
            for initiator in existing.allowedInitiators { _ = try await client.disallow(name, initiator: initiator) }
            try await client.deleteVolume(name)
        }
        let info = try await client.createVolume(name: name, size: "128M", qos: qos)
        _ = try await client.allow(name, initiator: initiatorName)
        var configuration = ISCSIInitiatorSession.Configuration(
            initiatorName: initiatorName, targetName: info.iqn, isid: 0x8000_0000_0000 | UInt64(sessions.count + 1)
        )
        configuration.logicalUnitNumber = 0
        let session = try await ISCSIInitiatorSession.login(host: portal.host, port: portal.port, configuration: configuration)
        try await session.clearUnitAttentions()
        sessions[name] = session
        return session
    }

    func load(_ session: ISCSIInitiatorSession, depth: Int, sizes: [Int] = [4096], origin: NIODeadline) -> QoSLoad {
        seed &+= 1
        return QoSLoad(session: session, queueDepth: depth, sizes: sizes, spanBytes: spanBytes, origin: origin, seed: seed)
    }

    /// Logs out and deletes the bench's volumes; what cannot be undone is told on stderr, with
    /// the volume to delete by hand (the next run also removes leftovers first).
    func cleanUp() async {
        for (name, session) in sessions {
            await session.logout()
            do {
                for _ in 0..<50 {
                    if try await client.volume(name).sessions.isEmpty { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                _ = try await client.disallow(name, initiator: initiatorName)
                try await client.deleteVolume(name)
            } catch {
                FileHandle.standardError.write(Data("lunar bench: could not remove the bench volume \(name) (\(error)); delete it with: lunar san volume delete \(name)\n".utf8))
            }
        }
        sessions = [:]
    }

    static func format(_ values: [Double]) -> String {
        values.map { String(format: "%6.0f", $0) }.joined(separator: " ")
    }

    static func seconds(since origin: NIODeadline) -> Double {
        Double((NIODeadline.now() - origin).nanoseconds) / 1e9
    }

    // MARK: Cap

    func cap() async throws -> [(String, Bool, String)] {
        print("== cap: one volume, max 1,000, queue depth 32, 4 KiB reads, 10 s after 1 s of warm-up")
        let session = try await volume("qb-cap", SANVolumeQoS(minIOPS: 100, maxIOPS: 1000, burstIOPS: 1000))
        let origin = NIODeadline.now()
        let load = load(session, depth: 32, origin: origin)
        try await load.start()
        try await Task.sleep(for: .seconds(11))
        try await load.stop()
        let rates = try await load.rates(window: 1, from: 1, to: 11)
        let average = rates.reduce(0, +) / Double(rates.count)
        print("per second: \(Self.format(rates))")
        print(String(format: "highest window %.0f, average %.0f (max 1,000)\n", rates.max() ?? 0, average))
        return [
            ("cap: every 1 s window ≤ 1.01 × max", (rates.max() ?? 0) <= 1010, String(format: "highest %.0f IOPS", rates.max() ?? 0)),
            ("cap: average ≥ 0.97 × max with work", average >= 970, String(format: "average %.0f IOPS", average)),
        ]
    }

    // MARK: Minimum

    func minimum(seconds: Double, victims victimCount: Int, noisy noisyCount: Int, original: SANNodeQoS) async throws -> [(String, Bool, String)] {
        let victimQoS = SANVolumeQoS(minIOPS: 500, maxIOPS: 5000, burstIOPS: 5000)
        let noisyQoS = SANVolumeQoS(minIOPS: 100, maxIOPS: 1_000_000, burstIOPS: 1_000_000)
        let capacity = Int((Double(victimCount * victimQoS.minIOPS + noisyCount * noisyQoS.minIOPS) / 0.9).rounded())
        print("== minimum: \(victimCount) victims (min 500, queue depth 1, 4 KiB) against \(noisyCount) noisy (min 100, queue depth 64, 4/4/64 KiB)")
        print("   node capacity \(capacity) IOPS, so minimums are 0.9 × capacity; \(Int(seconds)) s per mode, 10 s windows")
        var victims: [ISCSIInitiatorSession] = []
        var noisy: [ISCSIInitiatorSession] = []
        for index in 1...victimCount { victims.append(try await volume("qb-victim-\(index)", victimQoS)) }
        for index in 0..<noisyCount { noisy.append(try await volume("qb-noisy-\(index + 1)", noisyQoS)) }
        var verdicts: [(String, Bool, String)] = []
        for enabled in [false, true] {
            _ = try await client.updateNodeQoS(enabled: enabled, capacityIOPS: capacity)
            let origin = NIODeadline.now()
            let victimLoads = victims.map { load($0, depth: 1, origin: origin) }
            let noisyLoads = noisy.map { load($0, depth: 64, sizes: [4096, 4096, 65_536], origin: origin) }
            for load in victimLoads + noisyLoads { try await load.start() }
            try await Task.sleep(for: .seconds(seconds + 1))
            for load in victimLoads + noisyLoads { try await load.stop() }
            print("\n-- QoS \(enabled ? "on" : "off"): delivered 4K-equivalent IOPS per second")
            print("second " + (1...victimCount).map { "   v\($0)" }.joined(separator: " ") + "   noisy total")
            var perSecond: [[Double]] = []
            for load in victimLoads { perSecond.append(try await load.rates(window: 1, from: 1, to: seconds + 1)) }
            var noisyTotal = Array(repeating: 0.0, count: perSecond[0].count)
            for load in noisyLoads {
                for (index, rate) in try await load.rates(window: 1, from: 1, to: seconds + 1).enumerated() where index < noisyTotal.count {
                    noisyTotal[index] += rate
                }
            }
            for second in perSecond[0].indices {
                print(String(format: "%6d ", second + 1) + Self.format(perSecond.map { $0[second] }) + String(format: " %13.0f", noisyTotal[second]))
            }
            var worst = Double.infinity
            for (index, load) in victimLoads.enumerated() {
                let windows = try await load.rates(window: 10, from: 1, to: seconds + 1)
                print("v\(index + 1) 10 s windows: \(Self.format(windows))  (min 500)")
                worst = min(worst, windows.min() ?? 0)
            }
            if enabled {
                verdicts.append(("minimum: every victim ≥ 0.95 × min in every 10 s window (QoS on)", worst >= 475, String(format: "worst victim window %.0f IOPS", worst)))
            } else {
                verdicts.append(("minimum: QoS off starves the victims (for contrast)", worst < 475, String(format: "worst victim window %.0f IOPS", worst)))
            }
        }
        _ = try await client.updateNodeQoS(enabled: original.enabled, capacityIOPS: original.capacityIOPS)
        print()
        return verdicts
    }

    // MARK: Burst

    func burst(idle: Double) async throws -> [(String, Bool, String)] {
        print("== burst: max 1,000, burst 2,000; idle \(Int(idle)) s, then queue depth 32 for \(Int(idle + 20)) s")
        let session = try await volume("qb-burst", SANVolumeQoS(minIOPS: 100, maxIOPS: 1000, burstIOPS: 2000))
        try await Task.sleep(for: .seconds(idle))
        let origin = NIODeadline.now()
        let load = load(session, depth: 32, origin: origin)
        try await load.start()
        try await Task.sleep(for: .seconds(idle + 20))
        try await load.stop()
        let rates = try await load.rates(window: 1, from: 0, to: idle + 20)
        print("per second: \(Self.format(rates))")
        let bursting = rates.filter { $0 > 1500 }.count
        let tail = Array(rates.suffix(10))
        let tailAverage = tail.reduce(0, +) / Double(max(1, tail.count))
        let burstRate = rates.filter { $0 > 1500 }.reduce(0, +) / Double(max(1, bursting))
        print(String(format: "%d s above 1,500 IOPS (at %.0f on average), then %.0f over the last 10 s\n", bursting, burstRate, tailAverage))
        let expected = idle
        return [
            (
                "burst: runs at burst for ≈ the idle time (±10 %)", Double(bursting) >= expected * 0.9 && Double(bursting) <= expected * 1.1 + 1,
                String(format: "%d s at %.0f IOPS after %.0f s idle", bursting, burstRate, idle)
            ),
            ("burst: falls back to max", tailAverage >= 950 && tailAverage <= 1010, String(format: "last 10 s %.0f IOPS", tailAverage)),
        ]
    }

    // MARK: Overhead

    /// QoS is switched on and off every second under one continuous load, so slow drift in the
    /// machine (the two cores are shared with the load generator) hits both sides alike; each
    /// second's first 100 ms is left out.
    func overhead(seconds: Double, rounds: Int, original: SANNodeQoS) async throws -> [(String, Bool, String)] {
        let switches = max(10, Int(seconds) * rounds * 2)
        print("== overhead: one unlimited volume, queue depth 32, 4 KiB reads; QoS switched on/off every second, \(switches) s")
        let session = try await volume("qb-overhead", .unlimited)
        _ = try await client.updateNodeQoS(enabled: true, capacityIOPS: original.capacityIOPS)
        let origin = NIODeadline.now()
        let load = load(session, depth: 32, origin: origin)
        try await load.start()
        try await Task.sleep(for: .seconds(1))
        var boundaries: [(start: Double, enabled: Bool)] = []
        for index in 0..<switches {
            let enabled = index % 2 == 1
            _ = try await client.updateNodeQoS(enabled: enabled)
            boundaries.append((Self.seconds(since: origin), enabled))
            try await Task.sleep(for: .seconds(1))
        }
        boundaries.append((Self.seconds(since: origin), true))
        try await load.stop()
        _ = try await client.updateNodeQoS(enabled: original.enabled, capacityIOPS: original.capacityIOPS)
        let slots = try await load.rates(window: 0.1, from: 0, to: boundaries.last!.start)
        var on: [Double] = []
        var off: [Double] = []
        for (current, next) in zip(boundaries, boundaries.dropFirst()) {
            let first = Int((current.start * 10).rounded(.up)) + 1
            let last = Int((next.start * 10).rounded(.down))
            guard last > first else { continue }
            let rate = slots[first..<min(last, slots.count)].reduce(0, +) / Double(last - first)
            if current.enabled { on.append(rate) } else { off.append(rate) }
        }
        // Adjacent pairs (off, on): the ratio of each pair, then the median.
        let ratios = zip(off, on).map { $1 / $0 }.sorted()
        let ratio = ratios[ratios.count / 2]
        let meanOn = on.reduce(0, +) / Double(on.count)
        let meanOff = off.reduce(0, +) / Double(off.count)
        print(String(format: "QoS on:  mean %.0f IOPS over %d s", meanOn, on.count))
        print(String(format: "QoS off: mean %.0f IOPS over %d s", meanOff, off.count))
        print(String(format: "on/off: median of %d paired seconds %.3f, ratio of means %.3f\n", ratios.count, ratio, meanOn / meanOff))
        return [
            (
                "overhead: QoS on within 5 % of off at 4K QD32", ratio >= 0.95,
                String(format: "on/off %.3f (median of paired seconds; means %.0f vs %.0f IOPS)", ratio, meanOn, meanOff)
            )
        ]
    }

    // MARK: Change

    func change() async throws -> [(String, Bool, String)] {
        print("== change: saturating at max 1,000; raised to 2,000, then lowered to 500, live (no reconnect)")
        let session = try await volume("qb-change", SANVolumeQoS(minIOPS: 100, maxIOPS: 1000, burstIOPS: 1000))
        let origin = NIODeadline.now()
        let load = load(session, depth: 32, origin: origin)
        try await load.start()
        try await Task.sleep(for: .seconds(3))
        let raisedAt = Self.seconds(since: origin)
        _ = try await client.setQoS("qb-change", qos: SANVolumeQoS(minIOPS: 100, maxIOPS: 2000, burstIOPS: 2000))
        try await Task.sleep(for: .seconds(3))
        let loweredAt = Self.seconds(since: origin)
        _ = try await client.setQoS("qb-change", qos: SANVolumeQoS(minIOPS: 100, maxIOPS: 500, burstIOPS: 500))
        try await Task.sleep(for: .seconds(3))
        try await load.stop()
        let slots = try await load.rates(window: 0.1, from: 0, to: 9)
        func visible(after change: Double, _ reached: (Double) -> Bool) -> Double? {
            // The first 100 ms slot wholly after the change that shows the new rate.
            let first = Int((change * 10).rounded(.up))
            guard let slot = (first..<slots.count).first(where: { reached(slots[$0]) }) else { return nil }
            return (Double(slot + 1) / 10 - change) * 1000
        }
        let up = visible(after: raisedAt) { $0 >= 1800 }
        let down = visible(after: loweredAt) { $0 <= 550 }
        print("per second: \(Self.format(try await load.rates(window: 1, from: 0, to: 9)))")
        print("raise visible after \(up.map { String(format: "%.0f ms", $0) } ?? "never"), lower after \(down.map { String(format: "%.0f ms", $0) } ?? "never")\n")
        return [
            ("change: a raised max shows within 1 s", (up ?? .infinity) <= 1000, up.map { String(format: "%.0f ms", $0) } ?? "never"),
            ("change: a lowered max shows within 1 s", (down ?? .infinity) <= 1000, down.map { String(format: "%.0f ms", $0) } ?? "never"),
        ]
    }
}
