import Foundation
import LunarClient
import LunarModel

/// What `lunar up` makes on first start so a newcomer can deploy at once: a zone, pod and a
/// Simulator (or KVM) cluster, a managed `lunar` pool on the built-in SAN, a service offering with IOPS (and HA),
/// disk offerings with fixed and custom IOPS. The template is built in. Through the API, as an
/// admin would; a folder that already has a zone is left alone.
struct UpSeeder {
    let api: LunarAPIClient
    let san: SANAdminClient
    let sanAdmin: String
    let sanToken: String
    /// The cluster's hypervisor: Simulator, or KVM for `--hypervisor qemu`.
    var hypervisor = "Simulator"

    /// - Returns: whether it seeded (false: the folder was seeded before).
    func seedIfNew() async throws -> Bool {
        let zones = try await api.call("listZones")
        if (zones["count"]?.intValue ?? 0) > 0 { return false }
        let zone = try await object(api.call("createZone", ["name": "zone1", "networktype": "Advanced", "dns1": "127.0.0.53", "internaldns1": "127.0.0.53"]), "zone")
        let zoneID = try field(zone, "id")
        let pod = try await object(
            api.call("createPod", ["name": "pod1", "zoneid": zoneID, "gateway": "127.0.0.1", "netmask": "255.0.0.0", "startip": "127.0.1.1", "endip": "127.0.1.254"]), "pod"
        )
        let podID = try field(pod, "id")
        _ = try await api.call("addCluster", ["clustername": "cluster1", "zoneid": zoneID, "podid": podID, "hypervisor": hypervisor, "clustertype": "CloudManaged"])
        let capacity = try await san.capacity()
        let url = URL(string: sanAdmin)
        let address = "\(url?.host ?? "127.0.0.1"):\(url?.port ?? 80)"
        _ = try await api.call(
            "createStoragePool",
            [
                "name": "lunar-san", "zoneid": zoneID, "url": "lunar://\(address)?token=\(sanToken)", "provider": "lunar", "managed": "true",
                "capacityiops": "\(capacity.capacityIOPS)", "scope": "zone",
            ]
        )
        _ = try await api.call(
            "createServiceOffering",
            ["name": "small", "displaytext": "1 CPU, 512 MB, root disk 200-400 IOPS, HA", "cpunumber": "1", "cpuspeed": "1000", "memory": "512", "miniops": "200", "maxiops": "400", "offerha": "true"]
        )
        _ = try await api.call("createDiskOffering", ["name": "iops-500", "displaytext": "1 GB, 250-500 IOPS", "disksize": "1", "miniops": "250", "maxiops": "500"])
        _ = try await api.call("createDiskOffering", ["name": "custom-iops", "displaytext": "Your size and IOPS", "customized": "true", "customizediops": "true"])
        return true
    }

    /// Adds a cluster of `hypervisor` to the first pod when there is none (a folder first seeded
    /// for the other hypervisor).
    func ensureCluster() async throws {
        let clusters = try await api.call("listClusters", ["hypervisor": hypervisor])
        guard (clusters["count"]?.intValue ?? 0) == 0 else { return }
        let pods = try await api.call("listPods")
        guard let pod = pods["pod"]?.arrayValue?.first, let podID = pod["id"]?.stringValue, let zoneID = pod["zoneid"]?.stringValue else { return }
        _ = try await api.call(
            "addCluster", ["clustername": "cluster-\(hypervisor.lowercased())", "zoneid": zoneID, "podid": podID, "hypervisor": hypervisor, "clustertype": "CloudManaged"]
        )
    }

    func object(_ reply: JSONObject, _ key: String) throws -> JSONObject {
        if let object = reply[key]?.objectValue { return object }
        if let first = reply[key]?.arrayValue?.first?.objectValue { return first }
        throw LunarClientError.badResponse("no \(key) in the reply")
    }

    func field(_ object: JSONObject, _ key: String) throws -> String {
        guard let value = object[key]?.stringValue else { throw LunarClientError.badResponse("no \(key)") }
        return value
    }
}
