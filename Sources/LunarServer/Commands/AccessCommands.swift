import Foundation
import ISCSI
import LunarModel
import LunarStorage

/// Lunar's own admin command for access to managed storage (not in CloudStack's API).
enum AccessCommands {
    static let all: [APICommand] = [addHost, grantVolumeAccess, revokeVolumeAccess, reconcileStorageAccess, checkAccessInvariant]

    /// CloudStack's addHost, for hosts whose agent is not running yet: the host waits
    /// `Disconnected` until its agent connects. Lunar adds `initiatoriqn` (the host's iSCSI name;
    /// its agent reports it otherwise).
    static let addHost = APICommand(
        name: "addHost",
        description: "Adds a hypervisor host to a cluster",
        access: .rootAdmin,
        parameters: [
            APIParameter("zoneid", .uuid, required: true, "The zone"), APIParameter("podid", .uuid, required: true, "The pod"),
            APIParameter("clusterid", .uuid, required: true, "The cluster"),
            APIParameter("url", .string, required: true, "http://ADDRESS of the host"),
            APIParameter("username", .string, "Ignored (agents authenticate with a registration token)"),
            APIParameter("password", .string, "Ignored"), APIParameter("hypervisor", .string, required: true, "Simulator or KVM"),
            APIParameter("initiatoriqn", .string, "The host's iSCSI initiator name (Lunar)"),
        ],
        responseName: "host",
        responseFields: [APIResponseField("id", "the host id"), APIResponseField("name", "the host name"), APIResponseField("state", "Disconnected until its agent connects")],
        execution: .sync { call in
            let p = call.parameters
            let command = call.command.name
            let store = call.server.store
            let clusterID: ClusterID = try p.requiredID("clusterid", command: command)
            guard let cluster = try await store.cluster(clusterID) else { throw LunarError.unknownID("cluster", clusterID.uuid, parameter: "clusterid") }
            let zoneID: ZoneID = try p.requiredID("zoneid", command: command)
            let podID: PodID = try p.requiredID("podid", command: command)
            guard cluster.zoneID == zoneID, cluster.podID == podID else { throw LunarError.refused("the cluster is not in that zone and pod") }
            let hypervisorText = try p.requiredString("hypervisor", command: command)
            guard let hypervisor = HypervisorType(caseInsensitive: hypervisorText), hypervisor == cluster.hypervisor else {
                throw LunarError.invalidParameter("hypervisor", value: hypervisorText, reason: "must be the cluster's, \(cluster.hypervisor.rawValue)")
            }
            let url = try p.requiredString("url", command: command)
            guard let address = URLComponents(string: url)?.host, !address.isEmpty else {
                throw LunarError.invalidParameter("url", value: url, reason: "expected http://ADDRESS")
            }
            var iqn: String?
            if let given = p["initiatoriqn"] {
                guard let normalized = ISCSIName.normalized(given) else {
                    throw LunarError.invalidParameter("initiatoriqn", value: given, reason: "not an iSCSI name (iqn.YYYY-MM.domain:...)")
                }
                iqn = normalized
            }
            let host = LunarModel.Host(
                id: .random(), name: address, zoneID: zoneID, podID: podID, clusterID: clusterID, hypervisor: hypervisor, ipAddress: address,
                initiatorIQN: iqn, state: .disconnected, resourceState: .enabled, cpuCores: 0, cpuSpeedMHz: 0, memoryBytes: 0,
                lastPingedEpochSeconds: nil, createdEpochSeconds: call.server.time.nowEpochSeconds()
            )
            do {
                try await store.insertHost(host)
            } catch {
                throw LunarError.refused("a host named \(address) or with initiator \(iqn ?? "-") exists")
            }
            var names = NameCache(store: store)
            let response = host.response(zone: try await names.zone(zoneID), pod: try await names.pod(podID), cluster: try await names.cluster(clusterID))
            return .list(name: "host", items: [response], total: 1)
        }
    )

    static func volumeAndHost(_ call: APICall) async throws -> (Volume, LunarModel.Host) {
        let command = call.command.name
        let volumeID: VolumeID = try call.parameters.requiredID("id", command: command)
        let hostID: HostID = try call.parameters.requiredID("hostid", command: command)
        guard let volume = try await call.server.store.volume(volumeID) else { throw LunarError.unknownID("volume", volumeID.uuid) }
        guard let host = try await call.server.store.host(hostID) else { throw LunarError.unknownID("host", hostID.uuid, parameter: "hostid") }
        return (volume, host)
    }

    /// Lunar's: lets one host reach a volume on managed storage and answers how (with the CHAP
    /// secret, so root admin only). Attach and VM start grant the same way.
    static let grantVolumeAccess = APICommand(
        name: "grantVolumeAccess",
        description: "Grants a host access to a volume on managed storage and returns the connection",
        access: .rootAdmin,
        parameters: [
            APIParameter("id", .uuid, required: true, "The volume"), APIParameter("hostid", .uuid, required: true, "The host"),
            APIParameter("reason", .string, "attach (default), start or migration"),
        ],
        responseName: "volumeaccess",
        responseFields: [
            APIResponseField("portal", "HOST:PORT"), APIResponseField("iqn", "the target"), APIResponseField("lun", "the LUN"),
            APIResponseField("chapuser", "CHAP user"), APIResponseField("chapsecret", "CHAP secret"),
        ],
        execution: .sync { call in
            let (volume, host) = try await volumeAndHost(call)
            let reason = try call.parameters.choice("reason", as: VolumeGrant.Reason.self) ?? .attach
            // Marked as an administrator's: no VM justifies it, and the monitor's sweep leaves it alone.
            let connection = try await AccessService(server: call.server).grant(volume, to: host, reason: reason, jobID: VolumeGrant.administrative)
            var object = JSONObject(["volumeid": volume.id.uuid.json, "hostid": host.id.uuid.json])
            switch connection {
            case .iscsi(let portal, let iqn, let lun, let user, let secret):
                object["portal"] = portal.json
                object["iqn"] = iqn.json
                object["lun"] = .integer(Int64(lun))
                object["chapuser"] = user.map(JSONValue.string)
                object["chapsecret"] = secret.map(JSONValue.string)
            case .file(let path):
                object["path"] = path.json
            }
            return .object(name: "volumeaccess", object)
        }
    )

    /// Lunar's: takes a host's access away; answers once the host is fenced off the volume.
    static let revokeVolumeAccess = APICommand(
        name: "revokeVolumeAccess",
        description: "Revokes a host's access to a volume on managed storage; returns once the host is fenced off",
        access: .rootAdmin,
        parameters: [APIParameter("id", .uuid, required: true, "The volume"), APIParameter("hostid", .uuid, required: true, "The host")],
        responseName: "success",
        responseFields: [APIResponseField("success", "true")],
        execution: .sync { call in
            let (volume, host) = try await volumeAndHost(call)
            try await AccessService(server: call.server).revoke(volume, from: host)
            return .object(name: "success", JSONObject(["success": true]))
        }
    )

    static let reconcileStorageAccess = APICommand(
        name: "reconcileStorageAccess",
        description: "Compares each managed pool's storage access with the recorded grants and removes (fenced) what no grant justifies",
        access: .rootAdmin,
        parameters: [APIParameter("dryrun", .boolean, "Only report what would be removed")],
        responseName: "accessfix",
        responseFields: [
            APIResponseField("storageid", "the pool"), APIResponseField("storagename", "the pool's name"),
            APIResponseField("path", "the volume's path on the pool"), APIResponseField("initiator", "the initiator name"),
            APIResponseField("action", "removed, would remove, or missing (a grant the storage does not honour)"),
        ],
        execution: .sync { call in
            let findings = try await AccessReconciler(server: call.server).run(dryRun: try call.parameters.bool("dryrun") ?? false)
            let items = findings.map { finding in
                JSONObject([
                    "storageid": finding.pool.id.uuid.json, "storagename": finding.pool.name.json, "path": finding.access.path.json,
                    "initiator": finding.access.initiator.json, "action": finding.action.rawValue.json,
                ])
            }
            return .list(name: "accessfix", items: items, total: items.count)
        }
    )

    /// Lunar's: checks DESIGN.md's invariant against the SAN and the agents (for tests and operators).
    static let checkAccessInvariant = APICommand(
        name: "checkAccessInvariant",
        description: "Checks that each volume's access (SAN and grant records) and connections (agents) are exactly the hosts running its VM",
        access: .rootAdmin,
        parameters: [],
        responseName: "invariant",
        responseFields: [APIResponseField("ok", "boolean", "true when nothing is wrong"), APIResponseField("violations", "list", "what is wrong")],
        execution: .sync { call in
            let problems = try await InvariantChecker(server: call.server).violations()
            return .object(name: "invariant", JSONObject(["ok": problems.isEmpty.json, "violations": .array(problems.map(JSONValue.string))]))
        }
    )
}
