import LunarModel

/// CloudStack's global settings: `listConfigurations` and `updateConfiguration`, over the
/// settings Lunar knows (`GlobalSetting.all`); values live in the `settings` table.
enum ConfigurationCommands {
    static let all: [APICommand] = [listConfigurations, updateConfiguration]

    static let fields = [
        APIResponseField("name", "the setting"), APIResponseField("value", "its value"), APIResponseField("defaultvalue", "its default"),
        APIResponseField("category", "its category"), APIResponseField("description", "what it does"), APIResponseField("scope", "global"),
        APIResponseField("isdynamic", "boolean", "whether a change applies without a restart"), APIResponseField("type", "its value's type"),
    ]

    static func response(_ setting: GlobalSetting, value: String?) -> JSONObject {
        JSONObject([
            "name": setting.name.json, "value": (value ?? setting.defaultValue).json, "defaultvalue": setting.defaultValue.json,
            "category": setting.category.json, "description": setting.description.json, "scope": "global", "isdynamic": true,
            "type": setting.type.json, "displaytext": setting.name.json, "component": "ManagementServer",
        ])
    }

    static let listConfigurations = APICommand(
        name: "listConfigurations",
        description: "Lists the global settings and their values",
        access: .rootAdmin,
        parameters: [
            APIParameter("name", .string, "Only this setting"), APIParameter("category", .string, "Only this category"),
        ] + APIParameter.listing,
        responseName: "configuration",
        responseFields: fields,
        execution: .sync { call in
            let p = call.parameters
            var items: [JSONObject] = []
            for setting in GlobalSetting.all {
                if let name = p["name"], !setting.name.lowercased().contains(name.lowercased()) { continue }
                if let category = p["category"], setting.category.lowercased() != category.lowercased() { continue }
                if let keyword = p["keyword"], !setting.name.contains(keyword) { continue }
                items.append(response(setting, value: try await call.server.store.setting(setting.name)))
            }
            return .list(name: "configuration", items: items, total: items.count)
        }
    )

    static let updateConfiguration = APICommand(
        name: "updateConfiguration",
        description: "Changes a global setting (applies at once)",
        access: .rootAdmin,
        parameters: [APIParameter("name", .string, required: true, "The setting"), APIParameter("value", .string, "The new value (absent: the default)")],
        responseName: "configuration",
        responseFields: fields,
        execution: .sync { call in
            let name = try call.parameters.requiredString("name", command: call.command.name)
            guard let setting = GlobalSetting.named(name) else {
                throw LunarError.invalidParameter("name", value: name, reason: "no such setting (listConfigurations lists them)")
            }
            let value = call.parameters["value"] ?? setting.defaultValue
            if let problem = setting.problem(with: value) { throw LunarError.invalidParameter("value", value: value, reason: problem) }
            try await call.server.store.setSetting(setting.name, value)
            return .object(name: "configuration", response(setting, value: value))
        }
    )
}
