import Foundation
import ISCSI
import Logging
import LunarClient
import LunarModel
import LunarSAN
import LunarSANTestSupport
import LunarStorage
import ServiceLifecycle
import Testing

@testable import LunarServer

/// Grants recorded and reconciled: a server with a managed pool on a real SAN node (both on
/// 127.0.0.1, in-process). Grants come with attach and VM start (the agents' issue); here a
/// test-only command calls the same service.
struct AccessReconcilerTests {
    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    static let hostIQN = "iqn.2026-11.org.example:host1"
    static let rogueIQN = "iqn.2026-11.org.example:rogue"

    /// `testGrant volume= cluster=` / `testRevoke volume=`: one host with `hostIQN`, made on first use.
    static func commands() -> [APICommand] {
        @Sendable func host(_ call: APICall) async throws -> LunarModel.Host {
            let store = call.server.store
            if let existing = try await store.hosts(
                id: nil, zoneID: nil, podID: nil, clusterID: nil, name: "host1", state: nil, keyword: nil, window: .all
            ).items.first {
                return existing
            }
            guard let clusterID: ClusterID = try call.parameters.id("cluster"), let cluster = try await store.cluster(clusterID) else {
                throw LunarError.missingParameter("cluster", command: call.command.name)
            }
            let host = LunarModel.Host(
                id: .random(), name: "host1", zoneID: cluster.zoneID, podID: cluster.podID, clusterID: clusterID, hypervisor: .simulator,
                ipAddress: "127.0.0.2", initiatorIQN: Self.hostIQN, state: .up, resourceState: .enabled, cpuCores: 4, cpuSpeedMHz: 2000,
                memoryBytes: 8 << 30, lastPingedEpochSeconds: nil, createdEpochSeconds: 0
            )
            try await store.insertHost(host)
            return host
        }
        @Sendable func volume(_ call: APICall) async throws -> Volume {
            guard let id: VolumeID = try call.parameters.id("volume"), let volume = try await call.server.store.volume(id) else {
                throw LunarError.missingParameter("volume", command: call.command.name)
            }
            return volume
        }
        let grant = APICommand(
            name: "testGrant", description: "test only", access: .rootAdmin,
            parameters: [APIParameter("volume", .uuid, "the volume"), APIParameter("cluster", .uuid, "the host's cluster")],
            responseName: "connection", responseFields: [],
            execution: .sync { call in
                let connection = try await AccessService(server: call.server).grant(try await volume(call), to: try await host(call), reason: .attach, jobID: VolumeGrant.administrative)
                guard case .iscsi(let portal, let iqn, _, let user, let secret) = connection else { throw LunarError.refused("not iSCSI") }
                return .object(name: "connection", JSONObject(["portal": portal.json, "iqn": iqn.json, "user": user.json, "secret": secret.json]))
            }
        )
        let revoke = APICommand(
            name: "testRevoke", description: "test only", access: .rootAdmin, parameters: [APIParameter("volume", .uuid, "the volume")],
            responseName: "success", responseFields: [],
            execution: .sync { call in
                try await AccessService(server: call.server).revoke(try await volume(call), from: try await host(call))
                return .object(name: "success", JSONObject(["success": true]))
            }
        )
        return [grant, revoke]
    }

    static func withSAN(_ body: @Sendable (_ admin: String, _ token: String) async throws -> Void) async throws {
        try await SANTestNode.run(configure: { $0.capacityIOPS = 20_000 }) { node in try await body(node.endpoints.admin, node.token) }
    }

    @Test func grantsAreRecordedAndTheReconcilerRemovesOnlyWhatNoGrantJustifies() async throws {
        try await Self.withSAN { admin, token in
            try await TestSupport.withServer(extraCommands: Self.commands()) { (server: TestServer) async throws in
                let api = server.admin
                let san = SANAdminClient(baseURL: admin, token: token)
                let zone = try await server.createZone()
                let pod = try await api.call("createPod", ["name": "p", "zoneid": zone, "gateway": "10.0.0.1", "netmask": "255.255.255.0", "startip": "10.0.0.10"])
                let podID = try #require(pod["pod"]?["id"]?.stringValue)
                let cluster = try await api.call("addCluster", ["clustername": "c", "zoneid": zone, "podid": podID, "hypervisor": "Simulator", "clustertype": "CloudManaged"])
                let clusterID = try #require(cluster["cluster"]?.arrayValue?.first?["id"]?.stringValue)
                let port = URLComponents(string: admin)!.port!
                let pool = try await api.call(
                    "createStoragePool",
                    ["name": "san1", "zoneid": zone, "url": "lunar://127.0.0.1:\(port)?token=\(token)", "provider": "lunar", "managed": "true", "capacityiops": "10000"]
                )
                let poolID = try #require(pool["storagepool"]?["id"]?.stringValue)
                let offering = try await server.createOffering(["name": "gold", "disksize": "1", "miniops": "100", "maxiops": "1000"])
                let volume = try await server.createVolume(["name": "d1", "zoneid": zone, "diskofferingid": offering, "storageid": poolID])
                let volumeID = try #require(volume["id"]?.stringValue)
                let sanName = try #require(volume["path"]?.stringValue?.split(separator: "/").first?.split(separator: ":").last).description

                // Granted: recorded, allowed at the SAN, and the reconciler finds nothing.
                let connection = try await api.call("testGrant", ["volume": volumeID, "cluster": clusterID])
                #expect(connection["connection"]?["user"]?.stringValue?.hasPrefix("lunar-pool-") == true)
                #expect(try await san.volume(sanName).allowedInitiators == [Self.hostIQN])
                let clean = try await api.call("reconcileStorageAccess")
                #expect(clean["accessfix"]?.arrayValue?.isEmpty ?? true, "\(clean)")

                // Access nobody recorded (a hand-made allow, or a revoke a crash cut short).
                _ = try await san.allow(sanName, initiator: Self.rogueIQN)
                let dry = try await api.call("reconcileStorageAccess", ["dryrun": "true"])
                let planned = try #require(dry["accessfix"]?.arrayValue)
                #expect(planned.count == 1 && planned.first?["initiator"]?.stringValue == Self.rogueIQN && planned.first?["action"]?.stringValue == "would remove")
                #expect(try await san.volume(sanName).allowedInitiators.contains(Self.rogueIQN), "a dry run changes nothing")
                let fixed = try await api.call("reconcileStorageAccess")
                #expect(fixed["accessfix"]?.arrayValue?.first?["action"]?.stringValue == "removed")
                #expect(try await san.volume(sanName).allowedInitiators == [Self.hostIQN], "the granted host keeps its access")

                // Revoked: fenced at the SAN and the record gone; nothing left to fix.
                _ = try await api.call("testRevoke", ["volume": volumeID])
                #expect(try await san.volume(sanName).allowedInitiators.isEmpty)
                let after = try await api.call("reconcileStorageAccess")
                #expect(after["accessfix"]?.arrayValue?.isEmpty ?? true, "\(after)")
            }
        }
    }
}
