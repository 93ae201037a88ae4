import Foundation
import LunarModel
import Testing

/// Lunar's responses carry every field of CloudStack's response classes that applies to what Lunar
/// has (automation clients decide things from them: `attached`, a pool's `ipaddress`, ...). The
/// field lists are read off CloudStack 4.20.2.0's classes (Fixtures/cloudstack-response-fields.json,
/// with each field's meaning in the .md beside it); what does not apply is named below with why.
/// Lunar's own extra fields are allowed.
@Suite(.serialized)
struct ResponseFieldTests {
    static let fixture: [String: [String]] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/cloudstack-response-fields.json")
        let data = try! Data(contentsOf: url)
        let classes = (try! JSONSerialization.jsonObject(with: data) as! [String: Any])["classes"] as! [String: [String]]
        return classes
    }()

    /// Fields of CloudStack's that have nothing to stand on in Lunar, by reason.
    static let common: Set<String> = [
        "jobid", "jobstatus",  // only in async job results of some commands
        "project", "projectid",  // no projects
        "icon",  // no resource icons
    ]
    static let statistics: Set<String> = ["diskioread", "diskiowrite", "diskkbsread", "diskkbswrite", "networkkbsread", "networkkbswrite", "utilization"]

    static let notApplicable: [String: Set<String>] = [
        "VolumeResponse": common.union(statistics).union([
            "chaininfo", "externaluuid", "encryptformat",  // VMware and encryption
            "isodisplaytext", "isoid", "isoname",  // no ISOs
            "snapshotid",  // no snapshots yet
            "physicalsize",  // per-volume allocated bytes come with the SAN's statistics
            "status",  // a volume-check result (KVM file volumes)
            "volumecheckresult", "volumerepairresult",
            "serviceofferingdisplaytext", "serviceofferingid", "serviceofferingname",  // root disks only (a data disk here)
            "templateid", "templatename", "templatedisplaytext",  // root disks only
        ]),
        "StoragePoolResponse": common.union([
            "nfsmountopts",  // no NFS
            "storagecustomstats",  // provider-specific statistics
            "usediops",  // what the SAN delivers is in its statistics, not a pool total
        ]),
        "DiskOfferingResponse": common.union([
            "cacheMode", "vspherestoragepolicy", "encrypt", "details", "disksizestrictness", "suitableforvirtualmachine",
            "zone", "zoneid",  // offerings are global
        ]),
        "ServiceOfferingResponse": common.union([
            "cacheMode", "vspherestoragepolicy", "encryptroot", "deploymentplanner", "serviceofferingdetails", "systemvmtype", "issystem",
            "defaultuse", "dynamicscalingenabled", "isvolatile", "limitcpuuse", "networkrate", "hosttags", "purgeresources",
            "diskofferingid", "diskofferingname", "diskofferingdisplaytext", "diskofferingstrictness", "zone", "zoneid",
        ]),
        "UserVmResponse": common.union([
            "arch", "autoscalevmgroupid", "autoscalevmgroupname", "backupofferingid", "backupofferingname", "bootmode", "boottype",
            "cpuused", "details", "diskioread", "diskiowrite", "diskkbsread", "diskkbswrite", "diskofferingid", "diskofferingname",
            "forvirtualnetwork", "group", "groupid", "guestosid", "hostcontrolstate", "instancename", "ipaddress", "isdynamicallyscalable",
            "isodisplaytext", "isoid", "isoname", "keypairs", "lastupdated", "memoryintfreekbs", "memorykbs", "memorytargetkbs",
            "networkkbsread", "networkkbswrite", "osdisplayname", "ostypeid", "password", "passwordenabled", "pooltype", "publicip",
            "publicipid", "readonlydetails", "receivedbytes", "rootdeviceid", "rootdevicetype", "sentbytes", "servicestate",
            "templatedisplaytext", "templateformat", "templatetype", "userdata", "userdatadetails", "userdataid", "userdataname",
            "userdatapolicy", "userid", "username", "vgpu", "vnfdetails", "vnfnics", "deleteprotection", "displayvm", "domainpath",
        ]),
        "HostResponse": common.union([
            "annotation", "arch", "capabilities", "clustertype", "cpuallocated", "cpuallocatedpercentage", "cpuallocatedvalue",
            "cpuallocatedwithoverprovisioning", "cpuloadaverage", "cpuused", "cpuwithoverprovisioning", "details", "disksizeallocated",
            "disksizetotal", "encryptionsupported", "events", "explicithosttags", "gpugroup", "hahost", "hasenoughcapacity", "hostha",
            "hosttags", "implicithosttags", "instanceconversionsupported", "islocalstorageactive", "istagarule", "lastannotated",
            "managementserverid", "memoryallocated", "memoryallocatedbytes", "memoryallocatedpercentage", "memoryused",
            "memorywithoverprovisioning", "oscategoryid", "oscategoryname", "outofbandmanagement", "removed", "suitableformigration",
            "ueficapability", "username", "version", "hypervisorversion", "networkkbsread", "networkkbswrite", "cpusockets",
        ]),
        "AsyncJobResponse": common.union(["managementserverid", "domainpath", "jobprocstatus"]),
    ]

    /// Fields CloudStack leaves out when they have no value (null), as Lunar does: checked only
    /// where the test's objects have a value.
    static let rateLimits: Set<String> = [
        "diskBytesReadRate", "diskBytesReadRateMax", "diskBytesReadRateMaxLength", "diskBytesWriteRate", "diskBytesWriteRateMax",
        "diskBytesWriteRateMaxLength", "diskIopsReadRate", "diskIopsReadRateMax", "diskIopsReadRateMaxLength", "diskIopsWriteRate",
        "diskIopsWriteRateMax", "diskIopsWriteRateMaxLength",
    ]
    static let absentWhenEmpty: [String: Set<String>] = [
        "VolumeResponse": rateLimits.union(["clusterid", "clustername", "podid", "podname"]),  // a zone-wide pool
        "StoragePoolResponse": ["clusterid", "clustername", "podid", "podname", "tags"],  // a zone-wide pool without tags
        "DiskOfferingResponse": rateLimits.union(["domain", "domainid", "hypervisorsnapshotreserve", "tags"]),  // a public offering
        "ServiceOfferingResponse": rateLimits.union(["domain", "domainid", "hypervisorsnapshotreserve", "rootdisksize", "storagetags"]),
        "HostResponse": ["disconnected"],  // an Up host
        "AsyncJobResponse": ["account"],  // names come with the job's account: absent for a deleted account
    ]

    @Test func responsesCarryCloudStacksFields() async throws {
        let san = SimulatedSAN(seed: 1, refusalRate: 0)
        try await TestSupport.withServer(
            extraProviders: [SimulatedStorageProvider(san: san)],
            configure: { $0.agentHeartbeatMilliseconds = 100 }
        ) { server in
            let world = try await SimulationWorld(server: server, san: san, seed: 1, faultRate: 0)
            let admin = server.admin
            let deploy = try await admin.call(
                "deployVirtualMachine",
                ["zoneid": world.zoneID, "serviceofferingid": world.serviceOfferingID, "templateid": Template.builtIn.id.uuid, "diskofferingid": world.diskOfferingID]
            )
            let jobID = try #require(deploy["jobid"]?.stringValue)
            _ = try await admin.waitForJob(jobID, pollInterval: .milliseconds(20))
            let job = try await admin.call("queryAsyncJobResult", ["jobid": jobID])
            let volumes = try #require(try await admin.call("listVolumes", ["listall": "true", "type": "DATADISK"])["volume"]?.arrayValue)
            let responses: [String: JSONObject] = [
                "VolumeResponse": try #require(volumes.first?.objectValue),
                "StoragePoolResponse": try #require(try await admin.call("listStoragePools")["storagepool"]?.arrayValue?.first?.objectValue),
                "DiskOfferingResponse": try #require(try await admin.call("listDiskOfferings")["diskoffering"]?.arrayValue?.first?.objectValue),
                "ServiceOfferingResponse": try #require(try await admin.call("listServiceOfferings")["serviceoffering"]?.arrayValue?.first?.objectValue),
                "UserVmResponse": try #require(try await admin.call("listVirtualMachines", ["listall": "true"])["virtualmachine"]?.arrayValue?.first?.objectValue),
                "HostResponse": try #require(try await admin.call("listHosts")["host"]?.arrayValue?.first?.objectValue),
                "AsyncJobResponse": job,
            ]
            for (name, response) in responses.sorted(by: { $0.key < $1.key }) {
                let expected = Set(try #require(Self.fixture[name])).subtracting(Self.notApplicable[name] ?? []).subtracting(Self.absentWhenEmpty[name] ?? [])
                let missing = expected.subtracting(response.keys).sorted()
                #expect(missing.isEmpty, "\(name) lacks CloudStack's \(missing.joined(separator: ", "))")
            }
            // An attached volume says so the way clients read it.
            let volume = responses["VolumeResponse"]!
            #expect(volume["attached"] != nil && volume["vmname"] != nil && volume["vmstate"]?.stringValue == "Running")
            #expect(volume["miniopsguaranteed"]?.boolValue == true && volume["qosenforcedby"]?.stringValue == "storage")
            await world.shutdown()
        }
    }
}
