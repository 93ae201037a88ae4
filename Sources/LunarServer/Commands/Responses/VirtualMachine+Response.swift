import LunarModel

extension ServerContext {
    /// CloudStack's virtualmachine response.
    func vmResponse(_ vm: VirtualMachine, names: inout NameCache) async throws -> JSONObject {
        let offering = try await store.serviceOffering(vm.serviceOfferingID)
        let host = try await vm.hostID.asyncMap { try await store.host($0) } ?? nil
        let account = try await names.account(vm.accountID)
        let zone = try await names.zone(vm.zoneID)
        let template = try await names.template(vm.templateID)
        return JSONObject([
            "id": vm.id.uuid.json,
            "name": vm.name.json,
            "displayname": vm.displayName.json,
            "state": vm.state.rawValue.json,
            "account": account?.name.json,
            "accountid": vm.accountID.uuid.json,
            "domainid": Domain.rootID.uuid.json,
            "domain": Domain.root.name.json,
            "zoneid": vm.zoneID.uuid.json,
            "zonename": zone?.name.json,
            "hostid": vm.hostID?.uuid.json,
            "hostname": host?.name.json,
            "hypervisor": (host?.hypervisor ?? template?.hypervisor ?? .simulator).rawValue.json,
            "serviceofferingid": vm.serviceOfferingID.uuid.json,
            "serviceofferingname": offering?.name.json,
            "templateid": vm.templateID.uuid.json,
            "templatename": template?.name.json,
            "templatedisplaytext": template?.displayText.json,
            "cpunumber": offering.map { .integer(Int64($0.cpuNumber)) },
            "cpuspeed": offering.map { .integer(Int64($0.cpuSpeedMHz)) },
            "memory": offering.map { .integer(Int64($0.memoryMB)) },
            "haenable": vm.haEnabled.json,
            "vmtype": "User",
            "hasannotations": false,
            "nic": .array([]),
            "securitygroup": .array([]),
            "tags": .array([]),
            "affinitygroup": .array([]),
            "created": CloudStackDate.format(epochSeconds: vm.createdEpochSeconds).json,
            "workload": vm.workload.json,
        ])
    }
}
