import LunarModel
import LunarStorage

extension Volume {
    /// CloudStack's volume response; `virtualmachineid`, `deviceid` and `vmname` only when attached.
    func response(account: Account?, zone: Zone?, offering: DiskOffering?, pool: StoragePool?) -> JSONObject {
        var object = JSONObject([
            "id": id.uuid.json,
            "name": name.json,
            "state": state.rawValue.json,
            "type": kind.rawValue.json,
            "size": sizeBytes.json,
            "miniops": minIOPS.map(JSONValue.integer),
            "maxiops": maxIOPS.map(JSONValue.integer),
            "diskofferingid": diskOfferingID?.uuid.json,
            "diskofferingname": offering?.name.json,
            "diskofferingdisplaytext": offering?.displayText.json,
            "hypervisorsnapshotreserve": hypervisorSnapshotReservePercent.map { .integer(Int64($0)) },
            "zoneid": zoneID.uuid.json,
            "zonename": zone?.name.json,
            "storageid": poolID?.uuid.json,
            "storage": pool?.name.json,
            "storagetype": (offering?.storageType ?? .shared).rawValue.json,
            "path": path.json,
            "provisioningtype": provisioningType.rawValue.json,
            "created": CloudStackDate.format(epochSeconds: createdEpochSeconds).json,
            "account": account?.name.json,
            "accountid": accountID.uuid.json,
            "domainid": Domain.rootID.uuid.json,
            "domain": Domain.root.name.json,
            "virtualmachineid": virtualMachineID?.uuid.json,
            "deviceid": deviceID.map { .integer(Int64($0)) },
            "destroyed": (state == .destroy).json,
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
        volume.response(
            account: try await names.account(volume.accountID),
            zone: try await names.zone(volume.zoneID),
            offering: try await volume.diskOfferingID.asyncMap { try await names.diskOffering($0) } ?? nil,
            pool: try await volume.poolID.asyncMap { try await names.pool($0) } ?? nil
        )
    }
}
