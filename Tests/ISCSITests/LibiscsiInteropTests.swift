import Foundation
import ISCSI
import Logging
import NIOCore
import Testing

/// The target on 127.0.0.1 with a free port, driven by libiscsi's command-line tools.
struct LibiscsiInteropTests {
    static let target = "iqn.2026-11.org.lunar:interop"

    /// The tool's path; when missing, a failure under CI=true and a recorded skip otherwise.
    static func tool(_ name: String) -> String? {
        for directory in ["/usr/bin", "/usr/local/bin"] where FileManager.default.isExecutableFile(atPath: directory + "/" + name) {
            return directory + "/" + name
        }
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            Issue.record("\(name) is missing (apt-get install libiscsi-bin); CI must not skip this test")
        }
        return nil
    }

    static func run(_ path: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        // Bounded: a hung tool fails the test instead of hanging it.
        let deadline = Date().addingTimeInterval(30)
        // Sleeping, not blocking: the target's work needs the same threads.
        while process.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
        if process.isRunning {
            process.terminate()
            Issue.record("\(path) did not finish within 30 s")
        }
        process.waitUntilExit()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (process.terminationStatus, output)
    }

    static func withTarget(_ body: (Int, String) async throws -> Void) async throws {
        let file = NSTemporaryDirectory() + "lunar-interop-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: file) }
        let device = try FileBlockDevice(path: file, sizeBytes: 64 << 20)
        let catalog = ISCSIStaticCatalog([Self.target: .init(unit: SCSILogicalUnit(device: device, serial: "interop-serial-1", naa: 0x1234_5678))])
        let server = try await ISCSITargetServer.start(
            host: "127.0.0.1", port: 0, catalog: catalog, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        do {
            try await body(server.port, file)
        } catch {
            try await server.shutdown()
            throw error
        }
        try await server.shutdown()
    }

    @Test func discoveryWithIscsiLs() async throws {
        guard let iscsiLs = Self.tool("iscsi-ls") else { return }
        try await Self.withTarget { port, _ in
            let (status, output) = try await Self.run(iscsiLs, ["-s", "iscsi://127.0.0.1:\(port)"])
            #expect(status == 0, "\(output)")
            #expect(output.contains("Target:\(Self.target)"), "\(output)")
            #expect(output.contains("Lun:0"), "\(output)")
        }
    }

    @Test func inquiryPagesWithIscsiInq() async throws {
        guard let iscsiInq = Self.tool("iscsi-inq") else { return }
        try await Self.withTarget { port, _ in
            let url = "iscsi://127.0.0.1:\(port)/\(Self.target)/0"
            let standard = try await Self.run(iscsiInq, [url])
            #expect(standard.status == 0, "\(standard.output)")
            #expect(standard.output.contains("LUNAR"), "\(standard.output)")
            let serial = try await Self.run(iscsiInq, ["-e", "1", "-c", "128", url])
            #expect(serial.output.contains("interop-serial-1"), "\(serial.output)")
            let identification = try await Self.run(iscsiInq, ["-e", "1", "-c", "131", url])
            #expect(identification.status == 0, "\(identification.output)")
            #expect(identification.output.lowercased().contains("naa"), "\(identification.output)")
        }
    }

    @Test func readCapacityWithIscsiReadcapacity16() async throws {
        guard let tool = Self.tool("iscsi-readcapacity16") else { return }
        try await Self.withTarget { port, _ in
            let (status, output) = try await Self.run(tool, ["iscsi://127.0.0.1:\(port)/\(Self.target)/0"])
            #expect(status == 0, "\(output)")
            #expect(output.contains("Total size:\(64 << 20)") || output.contains("\(64 << 20)"), "\(output)")
        }
    }

    @Test func unknownTargetIsRefused() async throws {
        guard let iscsiInq = Self.tool("iscsi-inq") else { return }
        try await Self.withTarget { port, _ in
            let (status, _) = try await Self.run(iscsiInq, ["iscsi://127.0.0.1:\(port)/iqn.2026-11.org.lunar:nosuch/0"])
            #expect(status != 0)
        }
    }
}
