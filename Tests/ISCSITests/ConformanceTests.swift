import Foundation
import ISCSI
import Logging
import NIOCore
import Testing

/// libiscsi's conformance suite (`iscsi-test-cu`) against the target in-process: every test must
/// pass or be skipped for a documented reason (docs/conformance.md); a failure, a crash or a hang
/// fails this test.
@Suite(.serialized)
struct ConformanceTests {
    /// Failures understood and not fixed, with why (docs/conformance.md). Anything else fails.
    static let knownFailures: [String: String] = [:]

    static let targets = ["iqn.2026-11.org.lunar:conformance-a", "iqn.2026-11.org.lunar:conformance-b"]

    /// What one run of the suite reported.
    struct Summary: CustomStringConvertible {
        var total = 0
        var passed = 0
        var failed = 0
        /// Tests CUnit counted as passed that only printed [SKIPPED].
        var skipped: [String] = []
        var failures: [String] = []
        var realPasses: Int { passed - skipped.count }

        var description: String {
            "total \(total), real passes \(realPasses), skips \(skipped.count), failures \(failed)"
        }
    }

    /// Parses CUnit's verbose output: `Suite: X`, `Test: Y ...passed|FAILED`, the run summary,
    /// and libiscsi's `[SKIPPED]` lines inside a test.
    static func parse(_ output: String) -> Summary {
        var summary = Summary()
        var suite = ""
        var test = ""
        var testSkipped = false
        func finishTest(_ line: Substring) {
            // The verdict comes first; a later "[FAILED]" on the same line is another test's setup log.
            if line.hasPrefix("...passed") || line.contains(" ...passed") {
                if testSkipped { summary.skipped.append("\(suite).\(test)") }
            } else if line.contains("FAILED") {
                summary.failures.append("\(suite).\(test)")
            }
        }
        for line in output.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("Suite: ") {
                suite = String(trimmed.dropFirst("Suite: ".count))
            } else if trimmed.hasPrefix("Test: ") {
                let rest = trimmed.dropFirst("Test: ".count)
                test = String(rest.prefix { $0 != " " })
                testSkipped = rest.contains("[SKIPPED]")
                if let verdict = rest.range(of: "...passed") ?? rest.range(of: "...FAILED"), verdict.lowerBound == rest.firstIndex(of: ".") {
                    finishTest(rest[verdict.lowerBound...])
                }
            } else if trimmed.contains("[SKIPPED]") {
                testSkipped = true
            } else if trimmed.hasPrefix("passed") || trimmed == "FAILED" {
                // CUnit prints the verdict after the test's own output.
                finishTest(Substring("..." + trimmed))
            } else if trimmed.hasPrefix("tests") {
                let fields = trimmed.split(separator: " ").compactMap { Int($0) }
                // tests  Total  Ran  Passed  Failed  Inactive
                if fields.count >= 4 {
                    summary.total = fields[0]
                    summary.passed = fields[2]
                    summary.failed = fields[3]
                }
            }
        }
        return summary
    }

    /// Runs `iscsi-test-cu` bounded in time, its output in a file (it is far larger than a pipe).
    static func runSuite(_ tool: String, _ arguments: [String], log: String, timeout: TimeInterval) async throws -> (status: Int32, output: String, timedOut: Bool) {
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        defer { try? handle.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        // Sleeping, not blocking: the target's work needs the same threads.
        while process.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        let timedOut = process.isRunning
        if timedOut {
            process.terminate()
            while process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        }
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return (process.terminationStatus, output, timedOut)
    }

    static func withTargets(_ body: (Int) async throws -> Void) async throws {
        let directory = NSTemporaryDirectory() + "lunar-conformance-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var entries: [String: ISCSIStaticCatalog.Entry] = [:]
        for (index, target) in targets.enumerated() {
            let device = try FileBlockDevice(path: "\(directory)/lun\(index)", sizeBytes: 128 << 20)
            let unit = try SCSILogicalUnit(
                device: device, serial: "conformance-\(index)", naa: 0xC0FF_EE00 + UInt64(index),
                reservationStore: FilePersistentReservationStore(path: "\(directory)/lun\(index).pr")
            )
            entries[target] = .init(unit: unit)
        }
        let server = try await ISCSITargetServer.start(
            host: "127.0.0.1", port: 0, catalog: ISCSIStaticCatalog(entries), logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        do {
            try await body(server.port)
        } catch {
            try await server.shutdown()
            throw error
        }
        try await server.shutdown()
    }

    @Test(.timeLimit(.minutes(10)))
    func libiscsiConformanceSuite() async throws {
        guard let tool = LibiscsiInteropTests.tool("iscsi-test-cu") else { return }
        let logDirectory = FileManager.default.currentDirectoryPath + "/.build/conformance"
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
        if let seconds = ProcessInfo.processInfo.environment["LUNAR_CONFORMANCE_SERVE"].flatMap(Int.init) {
            // For investigating one test by hand: serve, write the port, run the suite from a shell.
            try await Self.withTargets { port in
                try "\(port)".write(toFile: "\(logDirectory)/port", atomically: true, encoding: .utf8)
                try await Task.sleep(for: .seconds(seconds))
            }
            return
        }
        try await Self.withTargets { port in
            let single = "iscsi://127.0.0.1:\(port)/\(Self.targets[0])/0"
            let multipath = "iscsi://127.0.0.1:\(port)/\(Self.targets[1])/0"
            let runs: [(name: String, arguments: [String])] = [
                ("single", ["-d", "--test=ALL", single]),
                // The same logical unit through two sessions: the multipath and two-initiator tests.
                ("multipath", ["-d", "--test=ALL", multipath, multipath]),
            ]
            for run in runs {
                let log = "\(logDirectory)/\(run.name).log"
                let (status, output, timedOut) = try await Self.runSuite(tool, run.arguments, log: log, timeout: 240)
                let summary = Self.parse(output)
                let report = "\(run.name): \(summary); skipped: \(summary.skipped.joined(separator: ", ")); log: \(log)"
                print(report)
                try? report.write(toFile: "\(logDirectory)/\(run.name).summary", atomically: true, encoding: .utf8)
                #expect(!timedOut, "iscsi-test-cu \(run.name) hung; see \(log)")
                #expect(status == 0 || status == 1, "iscsi-test-cu \(run.name) crashed with status \(status); see \(log)")
                #expect(summary.total > 200, "iscsi-test-cu \(run.name) ran only \(summary.total) tests; see \(log)")
                let unexpected = summary.failures.filter { Self.knownFailures[$0] == nil }
                #expect(summary.failed == summary.failures.count, "\(run.name): CUnit counted \(summary.failed) failures, the log shows \(summary.failures); see \(log)")
                #expect(unexpected.isEmpty, "\(run.name) failures: \(unexpected.joined(separator: ", ")); see \(log)")
            }
        }
    }
}
