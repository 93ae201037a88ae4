import AsyncHTTPClient
import Foundation
import ISCSI
import Logging
import LunarClient
import LunarModel
import LunarSANTestSupport
import NIOCore
import ServiceLifecycle
import Testing

@testable import LunarSAN

/// A whole storage node on 127.0.0.1 (ports chosen by the system): its admin API over HTTP and
/// its iSCSI target through the Swift initiator.
struct SANNodeTests {
    struct Node: Sendable {
        var endpoints: SANNode.Endpoints
        var admin: SANAdminClient
        var dataDirectory: String
        var portalHost: String { String(endpoints.portal.split(separator: ":")[0]) }
        var portalPort: Int { Int(endpoints.portal.split(separator: ":")[1])! }

        func login(_ target: String, as initiator: String) async throws -> ISCSIInitiatorSession {
            try await ISCSIInitiatorSession.login(
                host: portalHost, port: portalPort, configuration: .init(initiatorName: initiator, targetName: target)
            )
        }
    }

    static func withNode<T: Sendable>(dataDirectory: String? = nil, _ body: @Sendable (Node) async throws -> T) async throws -> T {
        try await SANTestNode.run(dataDirectory: dataDirectory ?? VolumeStoreTests.folder()) { node in
            try await body(
                Node(endpoints: node.endpoints, admin: SANAdminClient(baseURL: node.endpoints.admin, token: node.token), dataDirectory: node.dataDirectory)
            )
        }
    }

    static func sanError(_ body: () async throws -> Void) async -> (status: Int, code: String)? {
        do {
            try await body()
            return nil
        } catch LunarClientError.san(let status, let code, _) {
            return (status, code)
        } catch {
            Issue.record("expected a SAN error, got \(error)")
            return nil
        }
    }

    static let host1 = "iqn.2026-11.org.example:host1"
    static let host2 = "iqn.2026-11.org.example:host2"

    @Test func adminAPIRefusesWithoutTheToken() async throws {
        try await Self.withNode { node in
            let stranger = SANAdminClient(baseURL: node.endpoints.admin, token: "wrong")
            let refusal = await Self.sanError { _ = try await stranger.listVolumes() }
            #expect(refusal?.status == 401 && refusal?.code == "unauthorized")
            // The token file is the operator's secret.
            let mode = try FileManager.default.attributesOfItem(atPath: node.endpoints.tokenFile)[.posixPermissions] as? NSNumber
            #expect(mode?.intValue == 0o600)
        }
    }

    @Test func malformedBodiesGetAClearError() async throws {
        try await Self.withNode { node in
            let token = try String(contentsOfFile: node.endpoints.tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            for body in ["{", "[]", "{\"name\":\"v1\"}", "{\"name\":\"v1\",\"size\":\"lots\"}", "{\"name\":7,\"size\":1048576}"] {
                var request = HTTPClientRequest(url: node.endpoints.admin + "/v1/volumes")
                request.method = .POST
                request.headers.add(name: "Authorization", value: "Bearer \(token)")
                request.body = .bytes(ByteBuffer(string: body))
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
                let text = String(buffer: try await response.body.collect(upTo: 1 << 16))
                #expect(response.status.code == 400, "\(body) → \(text)")
                let decoded = try JSONDecoder().decode(SANErrorBody.self, from: Data(text.utf8))
                #expect(["invalid_request", "invalid_size"].contains(decoded.error.code), "\(body) → \(text)")
            }
            #expect(try await node.admin.listVolumes().isEmpty, "nothing was created by the bad requests")
            let missing = await Self.sanError { _ = try await node.admin.volume("nosuch") }
            #expect(missing?.status == 404 && missing?.code == "volume_not_found")
        }
    }

    @Test func onlyAllowedInitiatorsLogIn() async throws {
        try await Self.withNode { node in
            let volume = try await node.admin.createVolume(name: "v1", size: "16M")
            do {
                _ = try await node.login(volume.iqn, as: Self.host1)
                Issue.record("login before allow must fail")
            } catch ISCSIInitiatorError.loginRefused(let status, _) {
                #expect(status == 0x0202, "authorization failure")
            }
            _ = try await node.admin.allow("v1", initiator: Self.host1)
            let session = try await node.login(volume.iqn, as: Self.host1)
            do {
                _ = try await node.login(volume.iqn, as: Self.host2)
                Issue.record("another initiator must still be refused")
            } catch ISCSIInitiatorError.loginRefused(let status, _) {
                #expect(status == 0x0202)
            }
            // Discovery shows a host only what it may use.
            let discovery = try await ISCSIInitiatorSession.login(
                host: node.portalHost, port: node.portalPort, configuration: .init(initiatorName: Self.host2, targetName: nil)
            )
            #expect(try await discovery.sendTargets().isEmpty)
            await discovery.logout()
            await session.logout()
        }
    }

    @Test func dataWrittenIsReadBackAndSurvivesARestart() async throws {
        let folder = VolumeStoreTests.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var bytes = ByteBuffer()
        for index in 0..<(256 * 1024 / 8) { bytes.writeInteger(UInt64(index) &* 0x9E37_79B9_7F4A_7C15) }
        let pattern = bytes
        try await Self.withNode(dataDirectory: folder) { node in
            let volume = try await node.admin.createVolume(name: "data", size: "32M")
            _ = try await node.admin.allow("data", initiator: Self.host1)
            let session = try await node.login(volume.iqn, as: Self.host1)
            try await session.clearUnitAttentions()
            #expect(try await session.readCapacity().blocks == 32 * 2048)
            // 256 KiB: immediate data plus R2T-solicited data.
            try await session.write(lba: 100, data: pattern, fua: true)
            // Many small writes in flight at once.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<64 {
                    group.addTask { try await session.write(lba: UInt64(10_000 + index * 8), data: ByteBuffer(repeating: UInt8(index), count: 4096)) }
                }
                try await group.waitForAll()
            }
            try await session.synchronizeCache()
            #expect(try await session.read(lba: 100, blocks: 512) == pattern)
            #expect(try await session.read(lba: 10_000 + 63 * 8, blocks: 8) == ByteBuffer(repeating: 63, count: 4096))
            await session.logout()
        }
        try await Self.withNode(dataDirectory: folder) { node in
            let volume = try await node.admin.volume("data")
            let session = try await node.login(volume.iqn, as: Self.host1)
            try await session.clearUnitAttentions()
            #expect(try await session.read(lba: 100, blocks: 512) == pattern)
            await session.logout()
        }
    }

    @Test func resizeGrowsOnlineAndDeleteWaitsForSessions() async throws {
        try await Self.withNode { node in
            let volume = try await node.admin.createVolume(name: "grow", size: "16M")
            _ = try await node.admin.allow("grow", initiator: Self.host1)
            let session = try await node.login(volume.iqn, as: Self.host1)
            try await session.clearUnitAttentions()
            let grown = try await node.admin.resizeVolume("grow", size: "32M")
            #expect(grown.sizeBytes == 32 << 20)
            try await session.clearUnitAttentions()
            #expect(try await session.readCapacity().blocks == 32 * 2048, "the connected initiator sees the new size")
            let shrink = await Self.sanError { _ = try await node.admin.resizeVolume("grow", size: "8M") }
            #expect(shrink?.code == "invalid_size")

            #expect(try await node.admin.volume("grow").sessions == [Self.host1])
            let busy = await Self.sanError { try await node.admin.deleteVolume("grow") }
            #expect(busy?.status == 409 && busy?.code == "volume_in_use")
            await session.logout()
            // The registry forgets the session when its connection closes.
            for _ in 0..<100 where try await !node.admin.volume("grow").sessions.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
            try await node.admin.deleteVolume("grow")
            #expect(try await node.admin.listVolumes().isEmpty)
        }
    }

    @Test func disallowDropsTheInitiatorsSessionsAtOnce() async throws {
        try await Self.withNode { node in
            let volume = try await node.admin.createVolume(name: "fenced", size: "16M")
            _ = try await node.admin.allow("fenced", initiator: Self.host1)
            _ = try await node.admin.allow("fenced", initiator: Self.host2)
            let first = try await node.login(volume.iqn, as: Self.host1)
            let second = try await node.login(volume.iqn, as: Self.host2)
            try await first.clearUnitAttentions()
            try await second.clearUnitAttentions()
            _ = try await node.admin.disallow("fenced", initiator: Self.host1)
            await #expect(throws: ISCSIInitiatorError.self) {
                for _ in 0..<100 {
                    _ = try await first.testUnitReady()
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
            // The other host keeps working.
            try await second.write(lba: 0, data: ByteBuffer(repeating: 7, count: 512))
            await second.logout()
        }
    }
}
