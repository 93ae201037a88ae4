import LunarModel
import LunarStorage

extension Volume {

    /// What CloudStack's clients read of a volume (VolumeResponse's fields that apply to Lunar),
    /// absent ones left out as CloudStack does. Clients decide "attached" from `attached` and
    /// `virtualmachineid`, so both are there exactly while it is attached.
    /// `enforcement` is where its pool's provider enforces QoS (`none` while it has no pool): the
    /// minimum is guaranteed only when it has none or its storage reserves it.
    func response(
        account: Account?, zone: Zone?, offering: DiskOffering?, pool: StoragePool?, enforcement: QoSEnforcement, vm: VirtualMachine?, cluster: Cluster?, pod: Pod?
    ) -> JSONObject {
        var object = JSONObject([
            "id": id.uuid.json,
            "name": name.json,
            "state": state.rawValue.json,
            "type": kind.rawValue.json,
            "size": sizeBytes.json,
            "virtualsize": sizeBytes.json,
            "miniops": minIOPS.map(JSONValue.integer),
            "maxiops": maxIOPS.map(JSONValue.integer),
            "miniopsguaranteed": (minIOPS == nil || enforcement.guaranteesMinimum).json,
            "qosenforcedby": enforcement.rawValue.json,
            "diskofferingid": diskOfferingID?.uuid.json,
            "diskofferingname": offering?.name.json,
            "diskofferingdisplaytext": offering?.displayText.json,
            "hypervisorsnapshotreserve": hypervisorSnapshotReservePercent.map { .integer(Int64($0)) },
            "zoneid": zoneID.uuid.json,
            "zonename": zone?.name.json,
            "podid": pool?.podID?.uuid.json,
            "podname": pod?.name.json,
            "clusterid": pool?.clusterID?.uuid.json,
            "clustername": cluster?.name.json,
            "storageid": poolID?.uuid.json,
            "storage": pool?.name.json,
            "storagetype": (offering?.storageType ?? .shared).rawValue.json,
            "hypervisor": (vm == nil ? nil : "Simulator").json,
            "path": path.json,
            "provisioningtype": provisioningType.rawValue.json,
            "created": CloudStackDate.format(epochSeconds: createdEpochSeconds).json,
            "account": account?.name.json,
            "accountid": accountID.uuid.json,
            "domainid": Domain.rootID.uuid.json,
            "domain": Domain.root.name.json,
            "domainpath": "ROOT",
            "virtualmachineid": virtualMachineID?.uuid.json,
            "vmname": vm?.name.json,
            "vmdisplayname": vm?.displayName.json,
            "vmstate": vm?.state.rawValue.json,
            "vmtype": (vm == nil ? nil : "User").json,
            "deviceid": deviceID.map { .integer(Int64($0)) },
            "attached": (virtualMachineID == nil ? nil : attachedEpochSeconds.map { CloudStackDate.format(epochSeconds: $0) }).json,
            "templateid": (kind == .root ? vm?.templateID.uuid : nil).json,
            "templatename": (kind == .root && vm?.templateID == Template.builtIn.id ? Template.builtIn.name : nil).json,
            "templatedisplaytext": (kind == .root && vm?.templateID == Template.builtIn.id ? Template.builtIn.name : nil).json,
            "serviceofferingid": (kind == .root ? vm?.serviceOfferingID.uuid : nil).json,
            "destroyed": (state == .destroy).json,
            "displayvolume": true,
            "isextractable": false,
            "quiescevm": false,
            "supportsstoragesnapshot": false,
            "deleteprotection": false,
            "hasannotations": false,
            "tags": .array([]),
        ])
        rateLimits.addResponseFields(to: &object)
        return object
    }

    var descriptor: VolumeDescriptor {
        VolumeDescriptor(
            id: id, name: name, sizeBytes: sizeBytes, snapshotReservePercent: hypervisorSnapshotReservePercent, minIOPS: minIOPS, maxIOPS: maxIOPS,
            path: path
        )
    }
}

extension ServerContext {
    func volumeResponse(_ volume: Volume, names: inout NameCache) async throws -> JSONObject {
        let pool = try await volume.poolID.asyncMap { try await names.pool($0) } ?? nil
        var object = volume.response(
            account: try await names.account(volume.accountID),
            zone: try await names.zone(volume.zoneID),
            offering: try await volume.diskOfferingID.asyncMap { try await names.diskOffering($0) } ?? nil,
            pool: pool,
            enforcement: pool.flatMap { providers.provider(named: $0.provider)?.qosEnforcement } ?? .none,
            vm: try await volume.virtualMachineID.asyncMap { try await store.virtualMachine($0) } ?? nil,
            cluster: try await pool?.clusterID.asyncMap { try await names.cluster($0) } ?? nil,
            pod: try await pool?.podID.asyncMap { try await names.pod($0) } ?? nil
        )
        if volume.kind == .root, let vmID = volume.virtualMachineID, let vm = try await store.virtualMachine(vmID),
            let offering = try await store.serviceOffering(vm.serviceOfferingID)
        {
            object["serviceofferingname"] = offering.name.json
            object["serviceofferingdisplaytext"] = offering.displayText.json
        }
        return object
    }
}
