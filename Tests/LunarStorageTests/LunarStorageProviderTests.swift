import Foundation
import ISCSI
import Logging
import LunarClient
import LunarModel
import LunarSAN
import LunarSANTestSupport
import LunarStorage
import NIOCore
import ServiceLifecycle
import Testing

/// The managed `lunar` provider against a real SAN node on 127.0.0.1 (in-process, ports chosen by
/// the system), driven through the provider contract the server uses.
struct LunarStorageProviderTests {
    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    static let host = HostDescriptor(id: HostID.random(), name: "host1", initiatorIQN: "iqn.2026-11.org.example:host1")

    struct Node: Sendable {
        var admin: String
        var token: String
        var portal: String
        var client: SANAdminClient { SANAdminClient(baseURL: admin, token: token) }

        func pool(capacityIOPS: Int64? = 5000, details: [String: String] = [:]) -> PoolDescriptor {
            let port = URLComponents(string: admin)!.port!
            return PoolDescriptor(
                id: StoragePoolID.random(), name: "san1", url: "lunar://127.0.0.1:\(port)?token=\(token)", capacityBytes: nil, capacityIOPS: capacityIOPS,
                details: details
            )
        }
    }

    static func withNode(_ body: @Sendable (Node) async throws -> Void) async throws {
        try await SANTestNode.run(configure: { $0.capacityIOPS = 20_000 }) { node in
            try await body(Node(admin: node.endpoints.admin, token: node.token, portal: node.endpoints.portal))
        }
    }

    static func volume(minIOPS: Int64? = 100, maxIOPS: Int64? = 1000, path: String? = nil) -> VolumeDescriptor {
        VolumeDescriptor(id: VolumeID.random(), name: "DATA-1", sizeBytes: 64 << 20, minIOPS: minIOPS, maxIOPS: maxIOPS, path: path)
    }

    @Test func aPoolIsCheckedAgainstTheNode() async throws {
        try await Self.withNode { node in
            let provider = LunarStorageProvider()
            let capacity = try await provider.initialize(node.pool())
            #expect(capacity.totalIOPS == 20_000 && capacity.totalBytes > 0)
            await #expect(throws: LunarError.self) { _ = try await provider.initialize(node.pool(capacityIOPS: 50_000)) }
            var badURL = node.pool()
            badURL.url = "http://127.0.0.1:1/"
            await #expect(throws: LunarError.self) { _ = try await provider.initialize(badURL) }
            var noToken = node.pool()
            noToken.url = String(noToken.url.prefix { $0 != "?" })
            await #expect(throws: LunarError.self) { _ = try await provider.initialize(noToken) }
            var wrongToken = node.pool()
            wrongToken.url = wrongToken.url.replacingOccurrences(of: node.token, with: "wrong")
            await #expect(throws: LunarError.self) { _ = try await provider.initialize(wrongToken) }
            #expect(!LunarStorageProvider.redacted(node.pool().url).contains(node.token))
        }
    }

    @Test func createGrantWriteRevokeResizeDelete() async throws {
        try await Self.withNode { node in
            let provider = LunarStorageProvider()
            let pool = node.pool()
            _ = try await provider.initialize(pool)
            var volume = Self.volume()
            let path = try await provider.createVolume(volume, in: pool)
            #expect(try await provider.createVolume(volume, in: pool) == path, "a repeat finds the volume made")
            let name = "vol-" + volume.id.uuid.lowercased()
            let atSAN = try await node.client.volume(name)
            #expect(path == "/\(atSAN.iqn)/0")
            #expect(atSAN.qos == SANVolumeQoS(minIOPS: 100, maxIOPS: 1000, burstIOPS: 1500), "burst is 1.5 × max by default")
            #expect(atSAN.account == "lunar-pool-" + pool.id.uuid.prefix(8).lowercased())
            #expect(atSAN.sizeBytes == 64 << 20)
            volume.path = path

            // Granted: the host logs in with the CHAP it was given and writes.
            guard case .iscsi(let portal, let iqn, let lun, let user, let secret) = try await provider.grantAccess(to: volume, for: Self.host, in: pool) else {
                Issue.record("a managed pool answers with an iSCSI connection")
                return
            }
            #expect(portal == node.portal && iqn == atSAN.iqn && lun == 0 && user == atSAN.account)
            var configuration = ISCSIInitiatorSession.Configuration(initiatorName: Self.host.initiatorIQN!, targetName: iqn)
            configuration.chap = .init(user: user!, secret: secret!)
            let parts = portal.split(separator: ":")
            let session = try await ISCSIInitiatorSession.login(host: String(parts[0]), port: Int(parts[1])!, configuration: configuration, logger: Self.quiet)
            try await session.clearUnitAttentions()
            let data = ByteBuffer(repeating: 0x5C, count: 4096)
            try await session.write(lba: 8, data: data)
            #expect(try await session.read(lba: 8, blocks: 8) == data)

            // Revoked: the session is fenced, the host is refused, a repeat is harmless.
            try await provider.revokeAccess(to: volume, for: Self.host, in: pool)
            await #expect(throws: (any Error).self) { try await session.write(lba: 16, data: data) }
            await #expect(throws: ISCSIInitiatorError.self) {
                _ = try await ISCSIInitiatorSession.login(host: String(parts[0]), port: Int(parts[1])!, configuration: configuration, logger: Self.quiet)
            }
            try await provider.revokeAccess(to: volume, for: Self.host, in: pool)

            // Resized: size and QoS change live.
            try await provider.resize(volume, toBytes: 128 << 20, minIOPS: 200, maxIOPS: 2000, in: pool)
            let grown = try await node.client.volume(name)
            #expect(grown.sizeBytes == 128 << 20 && grown.qos == SANVolumeQoS(minIOPS: 200, maxIOPS: 2000, burstIOPS: 3000))

            // Deleted, twice; then the pool.
            try await provider.deleteVolume(volume, in: pool)
            try await provider.deleteVolume(volume, in: pool)
            await #expect(throws: LunarClientError.self) { _ = try await node.client.volume(name) }
            try await provider.delete(pool)
            #expect(try await node.client.listAccounts().isEmpty)
        }
    }

    @Test func burstFactorAndLimits() async throws {
        try await Self.withNode { node in
            let provider = LunarStorageProvider()
            let pool = node.pool(details: ["burstfactor": "2"])
            _ = try await provider.initialize(pool)
            let capped = Self.volume(minIOPS: 100, maxIOPS: 900_000)
            _ = try await provider.createVolume(capped, in: pool)
            #expect(try await node.client.volume("vol-" + capped.id.uuid.lowercased()).qos == SANVolumeQoS(minIOPS: 100, maxIOPS: 900_000, burstIOPS: 1_000_000))
            let unlimited = Self.volume(minIOPS: nil, maxIOPS: nil)
            _ = try await provider.createVolume(unlimited, in: pool)
            #expect(try await node.client.volume("vol-" + unlimited.id.uuid.lowercased()).qos == .unlimited)
            let noIQN = HostDescriptor(id: HostID.random(), name: "bare", initiatorIQN: nil)
            await #expect(throws: LunarError.self) { _ = try await provider.grantAccess(to: capped, for: noIQN, in: pool) }
        }
    }

    @Test func notFoundIsNotUnreachable() async throws {
        try await Self.withNode { node in
            let provider = LunarStorageProvider()
            var pool = node.pool()
            // Thin provisioning: bytes may be promised beyond the node's disk.
            pool.capacityBytes = Int64.max / 2
            _ = try await provider.initialize(pool)
            var volume = Self.volume()
            volume.path = try await provider.createVolume(volume, in: pool)

            // One call grants and answers with the whole connection; a repeat answers the same.
            let first = try await provider.grantAccess(to: volume, for: Self.host, in: pool)
            #expect(try await provider.grantAccess(to: volume, for: Self.host, in: pool) == first)
            let grant = try await node.client.grant("vol-" + volume.id.uuid.lowercased(), initiator: Self.host.initiatorIQN!)
            #expect(grant.chapUser != nil && grant.chapSecret != nil && grant.targetSecret != nil && grant.portal == node.portal)

            // "Not there" is success for revoke and delete; the SAN says 404, nothing else.
            try await provider.revokeAccess(to: volume, for: Self.host, in: pool)
            try await provider.revokeAccess(to: volume, for: Self.host, in: pool)
            let never = Self.volume()
            try await provider.deleteVolume(never, in: pool)
            await #expect(throws: LunarClientError.self) { try await node.client.revokeGrant("vol-" + never.id.uuid.lowercased(), initiator: Self.host.initiatorIQN!) }

            // An unreachable SAN is never "not found": every call fails with 534 and nothing is assumed.
            var unreachable = pool
            unreachable.url = "lunar://127.0.0.1:1?token=\(node.token)"
            let (gone, made) = (unreachable, volume)
            for call in [
                { try await provider.deleteVolume(made, in: gone) },
                { try await provider.revokeAccess(to: made, for: Self.host, in: gone) },
                { _ = try await provider.grantAccess(to: made, for: Self.host, in: gone) },
                { _ = try await provider.createVolume(Self.volume(), in: gone) },
                { try await provider.delete(gone) },
            ] as [@Sendable () async throws -> Void] {
                await #expect(throws: LunarError(.resourceUnavailable, "")) { try await call() }
            }
            #expect(try await node.client.volume("vol-" + volume.id.uuid.lowercased()).name == "vol-" + volume.id.uuid.lowercased())
        }
    }
}
