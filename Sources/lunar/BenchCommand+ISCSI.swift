import ArgumentParser
import Foundation
import ISCSI
import Logging
import LunarClient
import LunarModel
import NIOCore
import NIOPosix

extension BenchCommand {
    struct ISCSIBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "iscsi",
            abstract: "iSCSI data path: 4 KiB random read/write at QD1 and QD32, 128 KiB and 1 MiB sequential; IOPS, MB/s, latency percentiles.",
            discussion: """
                Against any portal: lunar bench iscsi --portal 127.0.0.1:3260 --target iqn.2026-11.org.lunar:v1
                Side by side with tgt: lunar bench iscsi --compare-tgt   (starts a Lunar SAN node and tgtd on files of
                the same size in --directory, runs each load on both, prints Lunar/tgt ratios and CPU time per IO).
                """
        )

        @Option(help: "The portal HOST:PORT (without --compare-tgt).") var portal: String?
        @Option(help: "The target IQN (without --compare-tgt).") var target: String?
        @Option(help: "The LUN.") var lun: UInt64 = 0
        @Flag(help: "Start a Lunar SAN node and tgtd and compare them in one run.") var compareTgt = false
        @Option(help: "Seconds per load.") var duration: Double = 10
        @Option(help: "Rounds per load with --compare-tgt (alternating which target goes first; medians reported).") var rounds = 3
        @Option(help: "Volume size for --compare-tgt (e.g. 1G).") var size = "1G"
        @Option(help: "Bytes of the volume the loads touch (e.g. 256M).") var span = "256M"
        @Option(help: "Loads to run, comma-separated (default: all).") var workloads: String?
        @Option(help: "Where --compare-tgt puts its files (the same disk for both).") var directory = NSTemporaryDirectory()
        @Option(help: "Initiator name to log in with.") var initiatorName = "iqn.2026-11.org.lunar:bench"
        @Option(help: "Random seed.") var seed: UInt64 = 1
        @Option(help: "PID of the target process, for CPU and memory figures (without --compare-tgt).") var serverPid: Int32?

        func selectedWorkloads() throws -> [ISCSIWorkload] {
            guard let workloads else { return ISCSIWorkload.standard }
            let names = workloads.split(separator: ",").map(String.init)
            let chosen = ISCSIWorkload.standard.filter { names.contains($0.name) }
            guard chosen.count == names.count else {
                throw ValidationError("unknown load; choose from \(ISCSIWorkload.standard.map(\.name).joined(separator: ", "))")
            }
            return chosen
        }

        func run() async throws {
            let loads = try selectedWorkloads()
            guard (1...15).contains(rounds), duration > 0 else { throw ValidationError("--rounds must be 1 to 15 and --duration positive") }
            guard let spanBytes = ByteSize.parse(span), let sizeBytes = ByteSize.parse(size), spanBytes <= sizeBytes, spanBytes >= 16 << 20 else {
                throw ValidationError("--span and --size are sizes such as 256M and 1G; span ≥ 16M and ≤ size")
            }
            if compareTgt {
                try await compare(loads: loads, sizeBytes: sizeBytes, spanBytes: spanBytes)
                return
            }
            guard let portal, let target else { throw ValidationError("give --portal and --target, or --compare-tgt") }
            let endpoint = try ISCSIBenchTarget.parse(portal: portal, target: target, lun: lun, pid: serverPid)
            print("load".padding(toLength: 20, withPad: " ", startingAt: 0) + ISCSIBenchReport.header)
            for load in loads {
                let measured = try await measure(endpoint, load: load, spanBytes: spanBytes)
                print(load.name.padding(toLength: 20, withPad: " ", startingAt: 0) + ISCSIBenchReport.row(measured))
            }
        }

        func measure(_ endpoint: ISCSIBenchTarget, load: ISCSIWorkload, spanBytes: UInt64) async throws -> ISCSIBenchReport.Measured {
            let session = try await endpoint.login(initiatorName: initiatorName)
            defer { Task { await session.logout() } }
            try await session.clearUnitAttentions()
            let cpuBefore = endpoint.pid.flatMap(ProcessUsage.cpuSeconds)
            let result = try await ISCSILoadRun(session: session, workload: load, blockSize: 512, spanBytes: spanBytes, seed: seed).run(seconds: duration)
            let cpuAfter = endpoint.pid.flatMap(ProcessUsage.cpuSeconds)
            var cpuMicrosPerIO: Double?
            if let cpuBefore, let cpuAfter, result.ios > 0 { cpuMicrosPerIO = (cpuAfter - cpuBefore) * 1e6 / Double(result.ios) }
            return ISCSIBenchReport.Measured(result: result, cpuMicrosPerIO: cpuMicrosPerIO, residentBytes: endpoint.pid.flatMap(ProcessUsage.residentBytes))
        }

        /// Writes the span once with 1 MiB writes, so both files hold the same data, warm in the page cache.
        func precondition(_ endpoint: ISCSIBenchTarget, spanBytes: UInt64) async throws {
            let session = try await endpoint.login(initiatorName: initiatorName)
            try await session.clearUnitAttentions()
            var payload = ByteBuffer(repeating: 0x5A, count: 1 << 20)
            payload.setInteger(UInt64(seed), at: 0)
            var offset: UInt64 = 0
            while offset < spanBytes {
                try await session.write(lba: offset / 512, data: payload)
                offset += 1 << 20
            }
            try await session.synchronizeCache()
            await session.logout()
        }

        func compare(loads: [ISCSIWorkload], sizeBytes: UInt64, spanBytes: UInt64) async throws {
            let folder = (directory as NSString).appendingPathComponent("lunar-bench-\(getpid())")
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: folder) }

            let lunar = try await LunarSANChild.start(dataDirectory: (folder as NSString).appendingPathComponent("lunar"))
            defer { lunar.stop() }
            let admin = try SANAdminClient.forDataFolder(lunar.dataDirectory)
            let volume = try await admin.createVolume(name: "bench", size: String(sizeBytes))
            _ = try await admin.allow("bench", initiator: initiatorName)

            // The same negotiation limits as Lunar's target offers.
            let limits = ISCSITargetLimits()
            let tgtFile = (folder as NSString).appendingPathComponent("tgt.img")
            guard FileManager.default.createFile(atPath: tgtFile, contents: nil), truncate(tgtFile, off_t(sizeBytes)) == 0 else {
                throw BenchFailure("cannot create \(tgtFile)")
            }
            let tgt = try TgtDaemon(
                file: tgtFile, portalPort: try freePort(), controlPort: Int(getpid() % 10_000) + 10_000, targetName: "iqn.2026-11.org.lunar.bench:tgt",
                limits: [
                    "MaxRecvDataSegmentLength": String(limits.maxRecvDataSegmentLength), "MaxXmitDataSegmentLength": String(limits.maxRecvDataSegmentLength),
                    "FirstBurstLength": String(limits.firstBurstLength), "MaxBurstLength": String(limits.maxBurstLength),
                    "ImmediateData": limits.immediateData ? "Yes" : "No", "InitialR2T": limits.initialR2T ? "Yes" : "No",
                ]
            )
            defer { tgt.stop() }

            let lunarTarget = try ISCSIBenchTarget.parse(portal: lunar.portal, target: volume.iqn, lun: 0, pid: lunar.pid)
            let tgtTarget = try ISCSIBenchTarget.parse(portal: "127.0.0.1:\(tgt.portalPort)", target: tgt.targetName, lun: 1, pid: tgt.pid)
            print("Preconditioning \(ByteSize.format(spanBytes)) on both (sequential 1 MiB writes, then SYNCHRONIZE CACHE)...")
            try await precondition(lunarTarget, spanBytes: spanBytes)
            try await precondition(tgtTarget, spanBytes: spanBytes)
            let rssStart = ProcessUsage.residentBytes(lunar.pid)

            print("lunar bench iscsi --compare-tgt: \(rounds) rounds of \(Int(duration)) s per load and target (medians), span \(ByteSize.format(spanBytes)), seed \(seed), files in \(directory)")
            print("load".padding(toLength: 20, withPad: " ", startingAt: 0) + "target " + ISCSIBenchReport.header + "   ratio Lunar/tgt")
            var ratios: [(String, Double, Double, Double?)] = []
            for load in loads {
                // Rounds alternate which target goes first (page-cache writeback from one run
                // lands on the next); each side's median round is reported.
                var oursRuns: [ISCSIBenchReport.Measured] = []
                var theirsRuns: [ISCSIBenchReport.Measured] = []
                for round in 0..<rounds {
                    if round % 2 == 0 {
                        oursRuns.append(try await measure(lunarTarget, load: load, spanBytes: spanBytes))
                        theirsRuns.append(try await measure(tgtTarget, load: load, spanBytes: spanBytes))
                    } else {
                        theirsRuns.append(try await measure(tgtTarget, load: load, spanBytes: spanBytes))
                        oursRuns.append(try await measure(lunarTarget, load: load, spanBytes: spanBytes))
                    }
                }
                let ours = ISCSIBenchReport.median(oursRuns)
                let theirs = ISCSIBenchReport.median(theirsRuns)
                let iopsRatio = ours.result.iops / max(theirs.result.iops, 1e-9)
                let p99Ratio = Double(theirs.result.p99Micros) / Double(max(ours.result.p99Micros, 1))
                var cpuRatio: Double?
                if let a = ours.cpuMicrosPerIO, let b = theirs.cpuMicrosPerIO, a > 0 { cpuRatio = b / a }
                ratios.append((load.name, iopsRatio, p99Ratio, cpuRatio))
                print(load.name.padding(toLength: 20, withPad: " ", startingAt: 0) + "lunar  " + ISCSIBenchReport.row(ours))
                print(String(repeating: " ", count: 20) + "tgt    " + ISCSIBenchReport.row(theirs) + String(format: "   IOPS×%.2f", iopsRatio))
            }
            print("")
            print("Ratios (Lunar/tgt; > 1 means Lunar is better): IOPS and MB/s, p99 latency (tgt/Lunar), CPU per IO (tgt/Lunar)")
            for (name, iops, p99, cpu) in ratios {
                print(
                    name.padding(toLength: 20, withPad: " ", startingAt: 0)
                        + String(format: "IOPS %.2f   p99 %.2f   CPU/IO %@", iops, p99, cpu.map { String(format: "%.2f", $0) } ?? "-")
                )
            }
            if let rssStart, let rssEnd = ProcessUsage.residentBytes(lunar.pid) {
                print("Lunar SAN resident memory: \(rssStart / 1_048_576) MiB after preconditioning, \(rssEnd / 1_048_576) MiB at the end")
            }
        }

        func freePort() throws -> Int {
            let socket = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).wait()
            let port = socket.localAddress?.port ?? 0
            try socket.close().wait()
            return port
        }
    }
}

/// A portal, target and LUN to load, and the PID serving it when known.
struct ISCSIBenchTarget {
    var host: String
    var port: Int
    var target: String
    var lun: UInt64
    var pid: Int32?

    static func parse(portal: String, target: String, lun: UInt64, pid: Int32?) throws -> ISCSIBenchTarget {
        guard let colon = portal.lastIndex(of: ":"), let port = Int(portal[portal.index(after: colon)...]) else {
            throw ValidationError("--portal must be HOST:PORT")
        }
        return ISCSIBenchTarget(host: String(portal[..<colon]), port: port, target: target, lun: lun, pid: pid)
    }

    func login(initiatorName: String) async throws -> ISCSIInitiatorSession {
        var configuration = ISCSIInitiatorSession.Configuration(initiatorName: initiatorName, targetName: target, isid: 0x8000_0000_0000 | UInt64(UInt16.random(in: 1...0xFFFF)))
        configuration.logicalUnitNumber = lun
        return try await ISCSIInitiatorSession.login(host: host, port: port, configuration: configuration)
    }
}

enum ISCSIBenchReport {
    static func pad(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }

    struct Measured {
        var result: ISCSILoadResult
        var cpuMicrosPerIO: Double?
        var residentBytes: UInt64?
    }

    /// The run with the median IOPS.
    static func median(_ runs: [Measured]) -> Measured {
        runs.sorted { $0.result.iops < $1.result.iops }[runs.count / 2]
    }

    static let header = "     IOPS      MB/s   p50 µs   p99 µs p99.9 µs  CPU µs/IO  RSS MiB"

    static func row(_ measured: Measured) -> String {
        let result = measured.result
        return String(
            format: "%9.0f %9.1f %8llu %8llu %8llu ", result.iops, result.megabytesPerSecond, result.p50Micros, result.p99Micros, result.p999Micros
        ) + pad(measured.cpuMicrosPerIO.map { String(format: "%.1f", $0) } ?? "-", 10) + " " + pad(measured.residentBytes.map { String($0 / 1_048_576) } ?? "-", 8) + (result.errors > 0 ? "  (\(result.errors) errors)" : "")
    }
}

/// A `lunar san` child process on a temporary data folder, ports chosen by the system.
final class LunarSANChild {
    let process = Process()
    let dataDirectory: String
    var portal = ""

    init(dataDirectory: String) {
        self.dataDirectory = dataDirectory
    }

    var pid: Int32 { process.processIdentifier }

    static func start(dataDirectory: String) async throws -> LunarSANChild {
        let child = LunarSANChild(dataDirectory: dataDirectory)
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        child.process.executableURL = URL(fileURLWithPath: executable)
        child.process.arguments = ["san", "--data", dataDirectory, "--portal", "127.0.0.1:0", "--admin-port", "0", "--log-level", "warning"]
        try child.process.run()
        for _ in 0..<200 {
            let file = (dataDirectory as NSString).appendingPathComponent(LunarEndpoints.fileName)
            if let data = FileManager.default.contents(atPath: file), let endpoints = try? JSONDecoder().decode(LunarEndpoints.self, from: data),
                let portal = endpoints.sanPortal, endpoints.sanAdmin != nil
            {
                child.portal = portal
                return child
            }
            guard child.process.isRunning else { throw BenchFailure("lunar san exited with status \(child.process.terminationStatus)") }
            try await Task.sleep(for: .milliseconds(50))
        }
        child.stop()
        throw BenchFailure("lunar san did not start within 10 s")
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }
}
