import LunarModel
import LunarStorage

/// Lunar's own admin command for access to managed storage (not in CloudStack's API).
enum AccessCommands {
    static let all: [APICommand] = [reconcileStorageAccess]

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
}
