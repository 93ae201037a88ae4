import Foundation
import LunarClient
import LunarModel
import LunarServer
import LunarStorage
import Testing

/// A provider whose driver fails on demand, to prove every flow rolls back.
struct FlakyProvider: StorageProvider {
    let name = "flaky"
    let isManaged = false
    let failCreate: Bool
    let failResize: Bool

    func initialize(_ pool: PoolDescriptor) async throws -> PoolCapacity { PoolCapacity(totalBytes: 1 << 40, usedBytes: 0, totalIOPS: 50_000) }
    func attach(_ pool: PoolDescriptor, to attachment: PoolAttachment) async throws {}
    func enterMaintenance(_ pool: PoolDescriptor) async throws {}
    func cancelMaintenance(_ pool: PoolDescriptor) async throws {}
    func delete(_ pool: PoolDescriptor) async throws {}
    func createVolume(_ volume: VolumeDescriptor, in pool: PoolDescriptor) async throws -> String {
        if failCreate { throw LunarError(.internalError, "flaky storage refused to create") }
        return "/flaky/\(volume.id.uuid)"
    }
    func deleteVolume(_ volume: VolumeDescriptor, in pool: PoolDescriptor) async throws {}
    func grantAccess(to volume: VolumeDescriptor, for host: HostDescriptor, in pool: PoolDescriptor) async throws -> VolumeConnection {
        .file(path: volume.path ?? "")
    }
    func revokeAccess(to volume: VolumeDescriptor, for host: HostDescriptor, in pool: PoolDescriptor) async throws {}
    func resize(_ volume: VolumeDescriptor, toBytes newSizeBytes: Int64, minIOPS: Int64?, maxIOPS: Int64?, in pool: PoolDescriptor) async throws {
        if failResize { throw LunarError(.internalError, "flaky storage refused to resize") }
    }
    func capacity(of pool: PoolDescriptor) async throws -> PoolCapacity { PoolCapacity(totalBytes: 1 << 40, usedBytes: 0, totalIOPS: 50_000) }
}

extension TestServer {
    /// Opens the server's database beside it (SQLite allows a second connection) for invariant checks.
    func accountingMismatches() async throws -> [String] {
        let database = try await Database.openSQLite(path: dataDirectory + "/lunar.db", logger: TestSupport.quietLogger)
        let mismatches = try await Store(database: database, time: SystemTimeSource()).poolAccountingMismatches()
        await database.close()
        return mismatches
    }

    func createZone(_ name: String = "z1") async throws -> String {
        let zone = try await admin.call("createZone", ["name": name, "networktype": "Advanced", "dns1": "1.1.1.1", "internaldns1": "10.0.0.1"])
        return try #require(zone["zone"]?["id"]?.stringValue)
    }

    func createPool(zone: String, name: String = "p1", capacityIOPS: Int64 = 10_000, capacityGB: Int64 = 100, tags: String? = nil, provider: String = "local") async throws -> (id: String, folder: String) {
        let folder = dataDirectory + "/pool-" + name
        var parameters = [
            "name": name, "zoneid": zone, "url": "file://" + folder, "capacityiops": String(capacityIOPS),
            "capacitybytes": String(capacityGB << 30), "provider": provider,
        ]
        parameters["tags"] = tags
        let pool = try await admin.call("createStoragePool", parameters)
        return (try #require(pool["storagepool"]?["id"]?.stringValue), folder)
    }

    func pool(_ id: String) async throws -> JSONObject {
        try #require(try await admin.call("listStoragePools", ["id": id])["storagepool"]?.arrayValue?.first?.objectValue)
    }

    func createOffering(_ parameters: [String: String]) async throws -> String {
        try #require(try await admin.call("createDiskOffering", parameters)["diskoffering"]?["id"]?.stringValue)
    }

    /// createVolume and wait for its job.
    func createVolume(_ parameters: [String: String], client: LunarAPIClient? = nil) async throws -> JSONObject {
        let client = client ?? admin
        let reply = try await client.call("createVolume", parameters)
        let result = try await client.waitForJob(try #require(reply["jobid"]?.stringValue), timeoutSeconds: 30, pollInterval: .milliseconds(10))
        return try #require(result["volume"]?.objectValue)
    }

    func resize(_ parameters: [String: String]) async throws -> JSONObject {
        let reply = try await admin.call("resizeVolume", parameters)
        let result = try await admin.waitForJob(try #require(reply["jobid"]?.stringValue), timeoutSeconds: 30, pollInterval: .milliseconds(10))
        return try #require(result["volume"]?.objectValue)
    }
}

struct StorageCatalogueTests {
    @Test func offeringsThroughTheAPI() async throws {
        try await TestSupport.withServer { (server: TestServer) async throws in
            let admin = server.admin
            let gold = try await admin.call("createDiskOffering", [
                "name": "gold", "disksize": "20", "miniops": "1000", "maxiops": "2000", "tags": "ssd,fast", "hypervisorsnapshotreserve": "10",
                "iopsreadrate": "500", "iopsreadratemax": "800", "iopsreadratemaxlength": "30",
            ])["diskoffering"]?.objectValue
            #expect(gold?["disksize"]?.intValue == 20)
            #expect(gold?["iscustomized"] == false)
            #expect(gold?["iscustomizediops"] == false)
            #expect(gold?["miniops"]?.intValue == 1000)
            #expect(gold?["tags"]?.stringValue == "ssd,fast")
            #expect(gold?["diskIopsReadRateMax"]?.intValue == 800)
            #expect(gold?["storagetype"]?.stringValue == "shared")
            let custom = try await admin.call("createDiskOffering", ["name": "custom", "customized": "true", "customizediops": "true"])["diskoffering"]
            #expect(custom?["disksize"]?.intValue == 0)
            #expect(custom?["iscustomizediops"] == true)
            #expect(custom?["miniops"] == nil)
            let refusals: [([String: String], String)] = [
                (["name": "x", "disksize": "10", "miniops": "500", "maxiops": "100"], "must not be greater than"),
                (["name": "x", "disksize": "10", "miniops": "5", "maxiops": "10", "customizediops": "true"], "customizediops=true"),
                (["name": "x", "disksize": "-1"], "disksize must be positive"),
                (["name": "x", "disksize": "10", "tags": "a,,b"], "no empty entries"),
                (["name": "x", "disksize": "10", "tags": "a b"], "may contain only"),
                (["name": "x"], "disksize is required"),
                (["name": "x", "disksize": "10", "provisioningtype": "magic"], "provisioningtype"),
            ]
            for (parameters, fragment) in refusals {
                let error = await TestSupport.apiError { _ = try await admin.call("createDiskOffering", parameters) }
                #expect(error?.code == .parameterError, "\(parameters)")
                #expect(error?.text.contains(fragment) == true, "\(error?.text ?? "-") should say \(fragment)")
            }
            let listed = try await admin.call("listDiskOfferings")
            #expect(listed["count"]?.intValue == 2)
            let goldID = try #require(gold?["id"]?.stringValue)
            let renamed = try await admin.call("updateDiskOffering", ["id": goldID, "name": "platinum", "tags": "nvme"])["diskoffering"]
            #expect(renamed?["name"]?.stringValue == "platinum" && renamed?["tags"]?.stringValue == "nvme" && renamed?["miniops"]?.intValue == 1000)
            #expect(try await admin.call("deleteDiskOffering", ["id": goldID])["success"] == true)
            #expect(try await admin.call("listDiskOfferings")["count"]?.intValue == 1)

            let service = try await admin.call("createServiceOffering", [
                "name": "small", "cpunumber": "1", "cpuspeed": "1000", "memory": "512", "miniops": "200", "maxiops": "400", "tags": "ssd",
            ])["serviceoffering"]
            #expect(service?["cpunumber"]?.intValue == 1 && service?["memory"]?.intValue == 512 && service?["miniops"]?.intValue == 200)
            #expect(service?["storagetags"]?.stringValue == "ssd")
            let badService = await TestSupport.apiError { _ = try await admin.call("createServiceOffering", ["name": "x", "cpunumber": "0", "cpuspeed": "1", "memory": "512"]) }
            #expect(badService?.text.contains("cpunumber") == true)
            #expect(try await admin.call("listServiceOfferings")["count"]?.intValue == 1)
            #expect(try await admin.call("deleteServiceOffering", ["id": service!["id"]!.stringValue!])["success"] == true)

            for filter in ["featured", "executable", "all"] {
                let templates = try await admin.call("listTemplates", ["templatefilter": filter])
                #expect(templates["template"]?.arrayValue?.first?["name"]?.stringValue == "lunar-tiny-linux", "\(filter)")
            }
            #expect(try await admin.call("listTemplates", ["templatefilter": "self"]).isEmpty)
            let missingFilter = await TestSupport.apiError { _ = try await admin.call("listTemplates") }
            #expect(missingFilter?.code == .parameterError)
        }
    }

    @Test func poolsThroughTheAPI() async throws {
        try await TestSupport.withServer(extraProviders: [FlakyProvider(failCreate: false, failResize: false)]) { (server: TestServer) async throws in
            let admin = server.admin
            let providers = try await admin.call("listStorageProviders", ["type": "primary"])
            #expect(Set(providers["dataStoreProvider"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []) == ["local", "lunar", "flaky"])
            let zone = try await server.createZone()
            let (poolID, folder) = try await server.createPool(zone: zone, tags: "ssd")
            var isDirectory: ObjCBool = false
            #expect(FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) && isDirectory.boolValue)
            let pool = try await server.pool(poolID)
            #expect(pool["scope"]?.stringValue == "ZONE" && pool["provider"]?.stringValue == "local" && pool["managed"] == false)
            #expect(pool["disksizetotal"]?.intValue == 100 << 30 && pool["disksizeallocated"]?.intValue == 0 && pool["disksizeused"]?.intValue == 0)
            #expect(pool["capacityiops"]?.intValue == 10_000 && pool["allocatediops"]?.intValue == 0 && pool["state"]?.stringValue == "Up")

            // A cluster-scoped pool takes its pod from the cluster.
            let cluster = try await admin.call("addCluster", ["clustername": "c", "zoneid": zone, "hypervisor": "Simulator", "clustertype": "CloudManaged"])
            let clusterID = try #require(cluster["cluster"]?.arrayValue?.first?["id"]?.stringValue)
            let clustered = try await admin.call("createStoragePool", ["name": "pc", "zoneid": zone, "clusterid": clusterID, "url": "file://" + folder + "-c"])
            #expect(clustered["storagepool"]?["scope"]?.stringValue == "CLUSTER" && clustered["storagepool"]?["podid"] != nil)

            let refusals: [([String: String], String)] = [
                (["name": "p1", "zoneid": zone, "url": "file://" + folder], "already exists"),
                (["name": "bad", "zoneid": zone, "url": "nfs://x/y"], "file:///"),
                (["name": "bad", "zoneid": zone, "url": "file:///tmp/x", "provider": "nosuch"], "unknown storage provider"),
                (["name": "bad", "zoneid": zone, "url": "file:///tmp/x", "managed": "true"], "unmanaged"),
                (["name": "bad", "zoneid": zone, "url": "file:///tmp/x", "scope": "cluster"], "missing parameter clusterid"),
                (["name": "bad", "zoneid": zone, "url": "file:///tmp/x", "capacityiops": "-5"], "must be positive"),
            ]
            for (parameters, fragment) in refusals {
                let error = await TestSupport.apiError { _ = try await admin.call("createStoragePool", parameters) }
                #expect(error?.code == .parameterError, "\(parameters)")
                #expect(error?.text.contains(fragment) == true, "\(error?.text ?? "-") should say \(fragment)")
            }

            let updated = try await admin.call("updateStoragePool", ["id": poolID, "capacityiops": "20000", "tags": "ssd,fast"])["storagepool"]
            #expect(updated?["capacityiops"]?.intValue == 20000 && updated?["tags"]?.stringValue == "ssd,fast")
            #expect(try await admin.call("updateStoragePool", ["id": poolID, "enabled": "false"])["storagepool"]?["state"]?.stringValue == "Disabled")
            #expect(try await admin.call("updateStoragePool", ["id": poolID, "enabled": "true"])["storagepool"]?["state"]?.stringValue == "Up")

            // Maintenance is an async job; placement skips a pool in maintenance and says so.
            let offering = try await server.createOffering(["name": "o", "disksize": "1", "miniops": "100", "maxiops": "200"])
            let job = try #require(try await admin.call("enableStorageMaintenance", ["id": poolID])["jobid"]?.stringValue)
            let entered = try await admin.waitForJob(job, timeoutSeconds: 30, pollInterval: .milliseconds(10))
            #expect(entered["storagepool"]?["state"]?.stringValue == "Maintenance")
            let refused = await TestSupport.apiError {
                _ = try await server.createVolume(["zoneid": zone, "diskofferingid": offering, "storageid": poolID])
            }
            #expect(refused?.code == .insufficientCapacity)
            #expect(refused?.text.contains("pool p1: in maintenance") == true)
            let cancel = try #require(try await admin.call("cancelStorageMaintenance", ["id": poolID])["jobid"]?.stringValue)
            #expect(try await admin.waitForJob(cancel, timeoutSeconds: 30, pollInterval: .milliseconds(10))["storagepool"]?["state"]?.stringValue == "Up")

            // Deleting a pool with volumes is refused; once they are gone it works.
            let volume = try await server.createVolume(["zoneid": zone, "diskofferingid": offering, "storageid": poolID])
            let busy = await TestSupport.apiError { _ = try await admin.call("deleteStoragePool", ["id": poolID]) }
            #expect(busy?.text.contains("still holds 1 volume") == true)
            let shrink = await TestSupport.apiError { _ = try await admin.call("updateStoragePool", ["id": poolID, "capacityiops": "50"]) }
            #expect(shrink?.text.contains("below the 100 IOPS already reserved") == true)
            let zoneBusy = await TestSupport.apiError { _ = try await admin.call("deleteZone", ["id": zone]) }
            #expect(zoneBusy?.text.contains("pod") == true || zoneBusy?.text.contains("storage pool") == true)
            let clusterBusy = await TestSupport.apiError { _ = try await admin.call("deleteCluster", ["id": clusterID]) }
            #expect(clusterBusy?.text.contains("1 storage pool") == true)
            #expect(try await admin.call("deleteVolume", ["id": volume["id"]!.stringValue!])["success"] == true)
            #expect(try await admin.call("deleteStoragePool", ["id": poolID])["success"] == true)
            #expect(try await admin.call("listStoragePools", ["id": poolID]).isEmpty)
            #expect(try await server.accountingMismatches().isEmpty)
        }
    }

    @Test func volumeLifecycleWithAccountingAtEveryStep() async throws {
        try await TestSupport.withServer { (server: TestServer) async throws in
            let admin = server.admin
            let zone = try await server.createZone()
            let (poolID, folder) = try await server.createPool(zone: zone, capacityIOPS: 10_000)
            let fixed = try await server.createOffering(["name": "fixed", "disksize": "10", "miniops": "3000", "maxiops": "6000", "hypervisorsnapshotreserve": "10"])
            let custom = try await server.createOffering(["name": "custom", "customized": "true", "customizediops": "true"])

            // Without storageid: a row only, no storage.
            let allocated = try await server.createVolume(["name": "later", "zoneid": zone, "diskofferingid": fixed])
            #expect(allocated["state"]?.stringValue == "Allocated" && allocated["storageid"] == nil && allocated["path"] == nil)
            #expect(allocated["size"]?.intValue == 10 << 30 && allocated["miniops"]?.intValue == 3000)
            #expect(allocated["virtualmachineid"] == nil && allocated["deviceid"] == nil && allocated["vmname"] == nil)
            #expect(try await server.pool(poolID)["allocatediops"]?.intValue == 0)

            // With storageid: placed and created at once, until IOPS run out.
            var placed: [JSONObject] = []
            for index in 0..<3 {
                let volume = try await server.createVolume(["name": "v\(index)", "zoneid": zone, "diskofferingid": fixed, "storageid": poolID])
                #expect(volume["state"]?.stringValue == "Ready" && volume["storage"]?.stringValue == "p1")
                let path = try #require(volume["path"]?.stringValue)
                #expect(FileManager.default.fileExists(atPath: path) && path.hasPrefix(folder))
                placed.append(volume)
                let pool = try await server.pool(poolID)
                #expect(pool["allocatediops"]?.intValue == Int64(3000 * (index + 1)))
                #expect(pool["disksizeallocated"]?.intValue == Int64(index + 1) * (11 << 30))
                #expect(try await server.accountingMismatches().isEmpty)
            }
            let full = await TestSupport.apiError {
                _ = try await server.createVolume(["name": "v3", "zoneid": zone, "diskofferingid": fixed, "storageid": poolID])
            }
            #expect(full?.code == .insufficientCapacity)
            #expect(full?.text == "No storage pool can take the volume: pool p1: 9000 of 10000 IOPS reserved, needs 3000")
            #expect(try await admin.call("listVolumes", ["name": "v3"]).isEmpty, "a refused volume leaves no row")

            // Custom offerings need size and IOPS; fixed ones refuse them.
            let needsIOPS = await TestSupport.apiError { _ = try await admin.call("createVolume", ["zoneid": zone, "diskofferingid": custom, "size": "5"]) }
            #expect(needsIOPS?.text.contains("give miniops and maxiops") == true)
            let needsSize = await TestSupport.apiError {
                _ = try await admin.call("createVolume", ["zoneid": zone, "diskofferingid": custom, "miniops": "1", "maxiops": "2"])
            }
            #expect(needsSize?.text.contains("give size") == true)
            let fixedIOPS = await TestSupport.apiError {
                _ = try await admin.call("createVolume", ["zoneid": zone, "diskofferingid": fixed, "miniops": "1", "maxiops": "2"])
            }
            #expect(fixedIOPS?.text.contains("fixed IOPS") == true)
            let flex = try await server.createVolume([
                "name": "flex", "zoneid": zone, "diskofferingid": custom, "size": "5", "miniops": "500", "maxiops": "1000", "storageid": poolID,
            ])
            #expect(flex["miniops"]?.intValue == 500 && flex["size"]?.intValue == 5 << 30)

            // Resize: IOPS and size change, accounting follows; growth past capacity is refused.
            let flexID = try #require(flex["id"]?.stringValue)
            let resized = try await server.resize(["id": flexID, "miniops": "900", "maxiops": "2000", "size": "8"])
            #expect(resized["miniops"]?.intValue == 900 && resized["maxiops"]?.intValue == 2000 && resized["size"]?.intValue == 8 << 30)
            #expect(resized["state"]?.stringValue == "Ready")
            let flexPath = try #require(resized["path"]?.stringValue)
            #expect((try FileManager.default.attributesOfItem(atPath: flexPath)[.size] as? NSNumber)?.int64Value == 8 << 30)
            #expect(try await server.pool(poolID)["allocatediops"]?.intValue == 9900)
            let tooMuch = await TestSupport.apiError { _ = try await admin.call("resizeVolume", ["id": flexID, "miniops": "1200", "maxiops": "2000"]) }
            #expect(tooMuch?.code == .insufficientCapacity)
            #expect(tooMuch?.text == "pool p1: 9000 of 10000 IOPS reserved, needs 1200")
            let shrink = await TestSupport.apiError { _ = try await admin.call("resizeVolume", ["id": flexID, "size": "2"]) }
            #expect(shrink?.text.contains("shrinkok=true") == true)
            let shrunk = try await server.resize(["id": flexID, "size": "2", "shrinkok": "true"])
            #expect(shrunk["size"]?.intValue == 2 << 30)
            let badIOPS = await TestSupport.apiError { _ = try await admin.call("resizeVolume", ["id": flexID, "miniops": "3000"]) }
            #expect(badIOPS?.text.contains("must not be greater than maxiops") == true)
            #expect(try await server.accountingMismatches().isEmpty)

            // Listing filters.
            #expect(try await admin.call("listVolumes", ["storageid": poolID])["count"]?.intValue == 4)
            #expect(try await admin.call("listVolumes", ["state": "Allocated"])["count"]?.intValue == 1)
            #expect(try await admin.call("listVolumes", ["keyword": "fle"])["count"]?.intValue == 1)
            #expect(try await admin.call("listVolumes", ["type": "DATADISK", "zoneid": zone])["count"]?.intValue == 5)

            // An account that owns volumes cannot be deleted until they are gone.
            let alice = try await server.makeAccount("alice")
            let aliceClient = server.client(keys: alice.keys)
            let hers = try await server.createVolume(["name": "hers", "zoneid": zone, "diskofferingid": fixed], client: aliceClient)
            #expect(try await aliceClient.call("listVolumes", ["listall": "true"])["count"]?.intValue == 1, "a user sees only her own volumes")
            #expect(try await admin.call("listVolumes", ["name": "hers"]).isEmpty, "an admin lists its own account's unless listall=true")
            #expect(try await admin.call("listVolumes", ["name": "hers", "listall": "true"])["count"]?.intValue == 1)
            let notYours = await TestSupport.apiError { _ = try await aliceClient.call("deleteVolume", ["id": flexID]) }
            #expect(notYours?.code == .parameterError)
            let noPool = await TestSupport.apiError {
                _ = try await aliceClient.call("createVolume", ["zoneid": zone, "diskofferingid": fixed, "storageid": poolID])
            }
            #expect(noPool?.text.contains("only administrators") == true)
            let job = try #require(try await admin.call("deleteAccount", ["id": alice.accountID])["jobid"]?.stringValue)
            let blocked = await TestSupport.apiError { _ = try await admin.waitForJob(job, timeoutSeconds: 30, pollInterval: .milliseconds(10)) }
            #expect(blocked?.text.contains("still owns 1 volume") == true)
            #expect(try await aliceClient.call("deleteVolume", ["id": hers["id"]!.stringValue!])["success"] == true)

            // Deleting gives everything back and removes the files.
            for volume in placed + [shrunk, allocated] {
                #expect(try await admin.call("deleteVolume", ["id": volume["id"]!.stringValue!])["success"] == true)
                if let path = volume["path"]?.stringValue { #expect(!FileManager.default.fileExists(atPath: path)) }
            }
            let empty = try await server.pool(poolID)
            #expect(empty["allocatediops"]?.intValue == 0 && empty["disksizeallocated"]?.intValue == 0)
            #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
            #expect(try await admin.call("listVolumes").isEmpty)
            #expect(try await server.accountingMismatches().isEmpty)
        }
    }

    @Test func concurrentPlacementsNeverOverbook() async throws {
        try await TestSupport.withServer { (server: TestServer) async throws in
            let zone = try await server.createZone()
            // Two pools with room for 12 and 8 volumes: 40 requests race for 20 places.
            let (first, _) = try await server.createPool(zone: zone, name: "a", capacityIOPS: 1200)
            let (second, _) = try await server.createPool(zone: zone, name: "b", capacityIOPS: 800)
            let offering = try await server.createOffering(["name": "o", "disksize": "1", "miniops": "100", "maxiops": "100"])
            let admin = server.admin
            // 20 requests for each pool, all at once; the allocator-chosen race is the store-level test below.
            let outcomes = await withTaskGroup(of: Bool.self) { group in
                for index in 0..<40 {
                    group.addTask {
                        let parameters = ["name": "race\(index)", "zoneid": zone, "diskofferingid": offering, "storageid": index % 2 == 0 ? first : second]
                        return (try? await server.createVolume(parameters)) != nil
                    }
                }
                return await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 20, "12 fit on a and 8 on b")
            let a = try await server.pool(first)
            let b = try await server.pool(second)
            #expect(a["allocatediops"]?.intValue == 1200 && b["allocatediops"]?.intValue == 800)
            #expect(try await admin.call("listVolumes", ["state": "Ready"])["count"]?.intValue == 20)
            #expect(try await server.accountingMismatches().isEmpty)
        }
    }

    @Test func concurrentPlacementsThroughTheAllocator() async throws {
        let directory = TestSupport.temporaryDirectory()
        let database = try await Database.openSQLite(path: directory + "/lunar.db", logger: TestSupport.quietLogger)
        let store = Store(database: database, time: SystemTimeSource())
        _ = try await store.bootstrapRootAdmin(password: "x")
        let admin = try #require(try await store.accounts(id: nil, name: "admin", keyword: nil, window: .all).items.first)
        let zone = Zone(
            id: .random(), name: "z", description: nil, networkType: .basic, dns1: "1", dns2: nil, internalDNS1: "1", internalDNS2: nil, guestCIDR: nil,
            networkDomain: nil, allocationState: .enabled, createdEpochSeconds: 0
        )
        try await store.createZone(zone)
        for (name, iops) in [("a", Int64(1000)), ("b", 700), ("c", 300)] {
            try await store.createStoragePool(
                StoragePool(
                    id: .random(), name: name, zoneID: zone.id, podID: nil, clusterID: nil, scope: .zone, url: "file:///unused", provider: "local",
                    isManaged: false, capacityBytes: 1 << 40, capacityIOPS: iops, allocatedBytes: 0, allocatedIOPS: 0, tags: [], hypervisor: nil,
                    state: .up, createdEpochSeconds: 0
                )
            )
        }
        let successes = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<60 {
                group.addTask {
                    let volume = Volume(
                        id: .random(), name: "r\(index)", accountID: admin.id, zoneID: zone.id, diskOfferingID: nil, kind: .dataDisk, sizeBytes: 1 << 30,
                        minIOPS: 100, maxIOPS: 200, hypervisorSnapshotReservePercent: nil, state: .allocated, poolID: nil, path: nil, provisioningType: .thin,
                        rateLimits: HypervisorRateLimits(), virtualMachineID: nil, deviceID: nil, createdEpochSeconds: 0
                    )
                    do {
                        try await store.insertVolume(volume)
                        _ = try await store.placeVolume(volume.id, clusterID: nil, onPool: nil, requiredTags: [])
                        return true
                    } catch {
                        return false
                    }
                }
            }
            return await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
        }
        #expect(successes == 20)
        let pools = try await store.storagePools(id: nil, zoneID: zone.id, clusterID: nil, name: nil, scope: nil, keyword: nil, window: .all).items
        #expect(pools.allSatisfy { $0.allocatedIOPS == $0.capacityIOPS })
        #expect(try await store.poolAccountingMismatches().isEmpty)
        await database.close()
    }

    @Test func providerFailuresRollBack() async throws {
        let providers: [any StorageProvider] = [FlakyProvider(failCreate: true, failResize: false)]
        try await TestSupport.withServer(extraProviders: providers) { (server: TestServer) async throws in
            let zone = try await server.createZone()
            let (poolID, _) = try await server.createPool(zone: zone, provider: "flaky")
            let offering = try await server.createOffering(["name": "o", "disksize": "1", "miniops": "100", "maxiops": "200"])
            let failed = await TestSupport.apiError { _ = try await server.createVolume(["name": "f", "zoneid": zone, "diskofferingid": offering, "storageid": poolID]) }
            #expect(failed?.text.contains("flaky storage refused to create") == true)
            let volume = try #require(try await server.admin.call("listVolumes", ["name": "f"])["volume"]?.arrayValue?.first)
            #expect(volume["state"]?.stringValue == "Allocated" && volume["storageid"] == nil, "back to the last stable state")
            #expect(try await server.pool(poolID)["allocatediops"]?.intValue == 0, "the reservation was released")
            #expect(try await server.accountingMismatches().isEmpty)
        }
        let resizing: [any StorageProvider] = [FlakyProvider(failCreate: false, failResize: true)]
        try await TestSupport.withServer(extraProviders: resizing) { (server: TestServer) async throws in
            let zone = try await server.createZone()
            let (poolID, _) = try await server.createPool(zone: zone, provider: "flaky")
            let custom = try await server.createOffering(["name": "c", "customized": "true", "customizediops": "true"])
            let volume = try await server.createVolume(["zoneid": zone, "diskofferingid": custom, "size": "1", "miniops": "100", "maxiops": "200", "storageid": poolID])
            let failed = await TestSupport.apiError { _ = try await server.resize(["id": volume["id"]!.stringValue!, "miniops": "500", "maxiops": "900", "size": "3"]) }
            #expect(failed?.text.contains("flaky storage refused to resize") == true)
            let after = try #require(try await server.admin.call("listVolumes", ["id": volume["id"]!.stringValue!])["volume"]?.arrayValue?.first)
            #expect(after["state"]?.stringValue == "Ready" && after["miniops"]?.intValue == 100 && after["size"]?.intValue == 1 << 30)
            #expect(try await server.pool(poolID)["allocatediops"]?.intValue == 100)
            #expect(try await server.accountingMismatches().isEmpty)
        }
    }

    @Test func aVolumeLeftCreatingByACrashIsFinishedAtStart() async throws {
        let directory = TestSupport.temporaryDirectory()
        let (poolID, offeringID, zoneID, adminKeys) = try await TestSupport.withServer(dataDirectory: directory) { (server: TestServer) async throws in
            let zone = try await server.createZone()
            let (pool, _) = try await server.createPool(zone: zone)
            let offering = try await server.createOffering(["name": "o", "disksize": "1", "miniops": "100", "maxiops": "200"])
            return (pool, offering, zone, server.admin.keys)
        }
        // The crash: the volume was placed (Creating, capacity reserved) and its job recorded, but the provider never ran.
        let database = try await Database.openSQLite(path: directory + "/lunar.db", logger: TestSupport.quietLogger)
        let store = Store(database: database, time: SystemTimeSource())
        let credentials = try #require(try await store.credentials(apiKey: adminKeys.apiKey))
        let volume = Volume(
            id: .random(), name: "interrupted", accountID: credentials.account.id, zoneID: ZoneID(zoneID)!, diskOfferingID: DiskOfferingID(offeringID),
            kind: .dataDisk, sizeBytes: 1 << 30, minIOPS: 100, maxIOPS: 200, hypervisorSnapshotReservePercent: nil, state: .allocated, poolID: nil,
            path: nil, provisioningType: .thin, rateLimits: HypervisorRateLimits(), virtualMachineID: nil, deviceID: nil, createdEpochSeconds: 0
        )
        try await store.insertVolume(volume)
        _ = try await store.placeVolume(volume.id, clusterID: nil, onPool: StoragePoolID(poolID), requiredTags: [])
        let jobID = JobID.random()
        try await store.insertJob(
            AsyncJob(
                id: jobID, accountID: credentials.account.id, userID: credentials.user.id, command: "createVolume",
                parameters: ["zoneid": zoneID, "diskofferingid": offeringID, "storageid": poolID], status: .pending, resultCode: 0, result: nil,
                progress: 0, instanceType: "Volume", instanceID: volume.id.uuid, createdEpochSeconds: 0, completedEpochSeconds: nil
            )
        )
        await database.close()

        try await TestSupport.withServer(dataDirectory: directory) { (server: TestServer) async throws in
            let result = try await server.admin.waitForJob(jobID.uuid, timeoutSeconds: 30, pollInterval: .milliseconds(10))
            #expect(result["volume"]?["state"]?.stringValue == "Ready")
            let path = try #require(result["volume"]?["path"]?.stringValue)
            #expect(FileManager.default.fileExists(atPath: path))
            #expect(try await server.admin.call("listVolumes", ["state": "Creating", "listall": "true"]).isEmpty, "no volume stays in a transitional state")
            #expect(try await server.accountingMismatches().isEmpty)
        }
    }
}
