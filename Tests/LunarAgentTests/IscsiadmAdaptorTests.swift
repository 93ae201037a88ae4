import Foundation
import LunarModel
import LunarWire
import Synchronization
import Testing

@testable import LunarAgent

/// The kernel-initiator adaptor's command lines and parsing, with a runner that records what would
/// run (a kernel iSCSI initiator cannot run in this sandbox) and a folder standing in for /dev/disk/by-path.
struct IscsiadmAdaptorTests {
    final class RecordingRunner: CommandRunner {
        let calls = Mutex<[[String]]>([])
        let sessions: Mutex<String>
        let loginStatus: Int32
        let logoutStatus: Int32
        /// Where discovery writes node records, as open-iscsi does.
        let nodes: String

        init(sessions: String = "", loginStatus: Int32 = 0, logoutStatus: Int32 = 0, nodes: String = NSTemporaryDirectory() + "nodes-" + UUID().uuidString) {
            self.sessions = Mutex(sessions)
            self.loginStatus = loginStatus
            self.logoutStatus = logoutStatus
            self.nodes = nodes
        }

        func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
            calls.withLock { $0.append(arguments) }
            if arguments.starts(with: ["iscsiadm", "-m", "discovery"]) {
                let folder = nodes + "/iqn.2026-11.org.lunar:vol-6a1f0c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b/127.0.0.1,3260,1"
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                try "node.name = x\nnode.session.auth.password = old\nnode.conn[0].port = 3260\n".write(toFile: folder + "/default", atomically: true, encoding: .utf8)
            }
            if arguments == ["iscsiadm", "-m", "session"] {
                let listing = sessions.withLock { $0 }
                return (listing.isEmpty ? 21 : 0, listing)
            }
            if arguments.last == "-u" { return (logoutStatus, logoutStatus == 0 ? "" : "iscsiadm: Could not logout of all requested sessions") }
            if arguments.last == "-l" { return (loginStatus, loginStatus == 24 ? "iscsiadm: initiator reported error (24 - iSCSI login failed due to authorization failure)" : "") }
            return (0, "")
        }
    }

    let volume = VolumeID(trusted: "6a1f0c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b")
    var iqn: String { "iqn.2026-11.org.lunar:vol-\(volume.uuid)" }

    func disk() -> DiskSpec {
        DiskSpec(volumeID: volume, deviceID: 1, poolType: "lunar", sizeBytes: 1 << 20,
                 connection: .iscsi(portal: "127.0.0.1:3260", iqn: iqn, lun: 0, chapUser: "lunar-pool-1", chapSecret: "secret-123456"))
    }

    @Test func connectDiscoversSetsCHAPLogsInAndOpensTheByPathDevice() async throws {
        let devices = NSTemporaryDirectory() + "by-path-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: devices, withIntermediateDirectories: true)
        let device = IscsiadmAdaptor.devicePath(directory: devices, portal: "127.0.0.1:3260", iqn: iqn, lun: 0)
        FileManager.default.createFile(atPath: device, contents: Data(count: 1 << 20))
        let runner = RecordingRunner()
        let adaptor = IscsiadmAdaptor(runner: runner, deviceDirectory: devices, deviceWait: .seconds(1), nodeDirectory: runner.nodes)
        let connected = try await adaptor.connect(disk())
        #expect(connected.volumeID == volume)
        #expect(runner.calls.withLock { $0 } == [
            ["iscsiadm", "-m", "discovery", "-t", "sendtargets", "-p", "127.0.0.1:3260"],
            ["iscsiadm", "-m", "node", "-T", iqn, "-p", "127.0.0.1:3260", "-o", "update", "-n", "node.session.auth.authmethod", "-v", "CHAP"],
            ["iscsiadm", "-m", "node", "-T", iqn, "-p", "127.0.0.1:3260", "-o", "update", "-n", "node.session.auth.username", "-v", "lunar-pool-1"],
            ["iscsiadm", "-m", "node", "-T", iqn, "-p", "127.0.0.1:3260", "-l"],
        ])
        #expect(!runner.calls.withLock { $0 }.joined().contains("secret-123456"), "the secret is on no command line")
        // It is in the node record, once, readable by its owner only.
        let record = runner.nodes + "/\(iqn)/127.0.0.1,3260,1/default"
        let text = try String(contentsOfFile: record, encoding: .utf8)
        #expect(text.contains("node.session.auth.password = secret-123456\n") && !text.contains("= old") && text.contains("node.conn[0].port = 3260"))
        #expect((try FileManager.default.attributesOfItem(atPath: record)[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        // Connecting again (a repeat after a lost answer) runs nothing more.
        _ = try await adaptor.connect(disk())
        #expect(runner.calls.withLock { $0.count } == 4)
        // A write reaches the device.
        try await connected.write(lba: 1, data: .init(repeating: 7, count: 512), fua: true)
        let written = try Data(contentsOf: URL(fileURLWithPath: device))
        #expect(written[512] == 7 && written[1023] == 7 && written[511] == 0)
    }

    @Test func withoutANodeRecordTheSecretHasNowhereToGoAndNothingLogsIn() async throws {
        let runner = RecordingRunner()
        let adaptor = IscsiadmAdaptor(runner: runner, deviceDirectory: "/nonexistent", nodeDirectory: NSTemporaryDirectory() + "no-nodes-" + UUID().uuidString)
        do {
            _ = try await adaptor.connect(disk())
            Issue.record("connected without a node record")
        } catch let failure as AgentFailure {
            #expect(failure.code == .connectFailed && failure.message.contains("no node record"), "\(failure)")
        }
        #expect(!runner.calls.withLock { $0 }.contains { $0.last == "-l" }, "no login without the secret in place")
    }

    @Test func anAuthorizationFailureIsAccessDenied() async throws {
        let runner = RecordingRunner(loginStatus: 24)
        let adaptor = IscsiadmAdaptor(runner: runner, deviceDirectory: "/nonexistent", deviceWait: .milliseconds(10), nodeDirectory: runner.nodes)
        await #expect(throws: AgentFailure.self) { try await adaptor.connect(disk()) }
        do {
            _ = try await adaptor.connect(disk())
        } catch let failure as AgentFailure {
            #expect(failure.code == .accessDenied)
        }
    }

    @Test func sessionsAreWhatIsConnectedAndDisconnectLogsOut() async throws {
        let listing = """
            tcp: [3] 127.0.0.1:3260,1 \(iqn) (non-flash)
            tcp: [4] 127.0.0.1:3260,1 iqn.2010-10.org.other:disk1 (non-flash)
            """
        let runner = RecordingRunner(sessions: listing)
        let adaptor = IscsiadmAdaptor(runner: runner, deviceDirectory: "/nonexistent")
        #expect(await adaptor.connectedDisks() == [volume], "only Lunar's targets name volumes")
        try await adaptor.disconnect(volume)
        let calls = runner.calls.withLock { $0 }
        #expect(calls.suffix(2) == [
            ["iscsiadm", "-m", "node", "-T", iqn, "-p", "127.0.0.1:3260", "-u"],
            ["iscsiadm", "-m", "node", "-T", iqn, "-p", "127.0.0.1:3260", "-o", "delete"],
        ])
        #expect(IscsiadmAdaptor.parseSessions("iscsiadm: No active sessions.").isEmpty)
    }

    @Test func aLogoutThatFailsIsThrownNotSwallowed() async throws {
        let runner = RecordingRunner(sessions: "tcp: [3] 127.0.0.1:3260,1 \(iqn) (non-flash)", logoutStatus: 8)
        let adaptor = IscsiadmAdaptor(runner: runner, deviceDirectory: "/nonexistent")
        await #expect(throws: AgentFailure.self) { try await adaptor.disconnect(volume) }
        #expect(!runner.calls.withLock { $0 }.contains { $0.last == "delete" }, "the node record stays while a session may")
    }
}
