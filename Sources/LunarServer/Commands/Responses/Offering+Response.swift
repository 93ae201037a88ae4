import LunarModel

extension HypervisorRateLimits {
    /// `diskBytesReadRate`, `diskBytesReadRateMax`, `diskBytesReadRateMaxLength`, ... (absent ones left out).
    func addResponseFields(to object: inout JSONObject) {
        for kind in Kind.allCases {
            let limit = self[kind]
            object[kind.responseStem] = limit.rate.map(JSONValue.integer)
            object[kind.responseStem + "Max"] = limit.max.map(JSONValue.integer)
            object[kind.responseStem + "MaxLength"] = limit.maxLength.map(JSONValue.integer)
        }
    }

    /// Reads the twelve `...rate`, `...ratemax`, `...ratemaxlength` parameters.
    static func from(_ parameters: APIParameters) throws -> HypervisorRateLimits {
        var limits = HypervisorRateLimits()
        for kind in Kind.allCases {
            limits[kind] = Limit(
                rate: try parameters.int64(kind.parameterStem),
                max: try parameters.int64(kind.parameterStem + "max"),
                maxLength: try parameters.int64(kind.parameterStem + "maxlength")
            )
        }
        return limits
    }

    /// The declarations of those parameters.
    static var parameters: [APIParameter] {
        Kind.allCases.flatMap { kind in
            [
                APIParameter(kind.parameterStem, .long, "Hypervisor-side limit: \(kind.parameterStem) (per second)"),
                APIParameter(kind.parameterStem + "max", .long, "Burst of \(kind.parameterStem)"),
                APIParameter(kind.parameterStem + "maxlength", .long, "Length of the \(kind.parameterStem) burst, in seconds"),
            ]
        }
    }
}

extension DiskOffering {
    var response: JSONObject {
        var object = JSONObject([
            "id": id.uuid.json,
            "name": name.json,
            "displaytext": displayText.json,
            "disksize": (diskSizeGB ?? 0).json,
            "iscustomized": isCustomized.json,
            "iscustomizediops": isCustomizedIOPS.json,
            "miniops": minIOPS.map(JSONValue.integer),
            "maxiops": maxIOPS.map(JSONValue.integer),
            "hypervisorsnapshotreserve": hypervisorSnapshotReservePercent.map { .integer(Int64($0)) },
            "tags": tags.isEmpty ? nil : StorageTags.join(tags).json,
            "storagetype": storageType.rawValue.json,
            "provisioningtype": provisioningType.rawValue.json,
            "displayoffering": true,
            "state": "Active",
            "hasannotations": false,
            "created": CloudStackDate.format(epochSeconds: createdEpochSeconds).json,
        ])
        rateLimits.addResponseFields(to: &object)
        return object
    }
}

extension ServiceOffering {
    var response: JSONObject {
        var object = JSONObject([
            "id": id.uuid.json,
            "name": name.json,
            "displaytext": displayText.json,
            "cpunumber": cpuNumber.json,
            "cpuspeed": cpuSpeedMHz.json,
            "memory": memoryMB.json,
            "miniops": minIOPS.map(JSONValue.integer),
            "maxiops": maxIOPS.map(JSONValue.integer),
            "iscustomizediops": isCustomizedIOPS.json,
            "iscustomized": false,
            "storagetags": tags.isEmpty ? nil : StorageTags.join(tags).json,
            "hosttags": hostTags.isEmpty ? nil : StorageTags.join(hostTags).json,
            "rootdisksize": rootDiskSizeGB.map(JSONValue.integer),
            "hypervisorsnapshotreserve": hypervisorSnapshotReservePercent.map { .integer(Int64($0)) },
            "storagetype": storageType.rawValue.json,
            "provisioningtype": provisioningType.rawValue.json,
            "offerha": offerHA.json,
            "limitcpuuse": false,
            "issystem": false,
            "state": "Active",
            "hasannotations": false,
            "created": CloudStackDate.format(epochSeconds: createdEpochSeconds).json,
        ])
        rateLimits.addResponseFields(to: &object)
        return object
    }
}

extension Template {
    func response(names: inout NameCache) async throws -> JSONObject {
        var zone: Zone?
        if let zoneID { zone = try await names.zone(zoneID) }
        var account: Account?
        if let accountID { account = try await names.account(accountID) }
        return JSONObject([
            "id": id.uuid.json,
            "name": name.json,
            "displaytext": displayText.json,
            "ispublic": isPublic.json,
            "isfeatured": isFeatured.json,
            "isready": isReady.json,
            "isextractable": false,
            "passwordenabled": false,
            "crossZones": (zoneID == nil).json,
            "format": format.rawValue.json,
            "hypervisor": hypervisor.rawValue.json,
            "ostypeid": osTypeID.json,
            "ostypename": osTypeName.json,
            "size": sizeBytes.json,
            "physicalsize": physicalSizeBytes.map(JSONValue.integer),
            "checksum": checksum.json,
            "url": url.json,
            "zoneid": zoneID?.uuid.json,
            "zonename": zone?.name.json,
            "templatetype": (hasImage ? "USER" : "BUILTIN").json,
            "account": (account?.name ?? "system").json,
            "accountid": accountID?.uuid.json,
            "status": status.json,
            "created": CloudStackDate.format(epochSeconds: createdEpochSeconds).json,
        ])
    }
}
