import LunarModel

/// `listApis` (generated from the command table itself) and `listCapabilities`.
enum DiscoveryCommands {
    static let all: [APICommand] = [listApis, listCapabilities]

    /// The CloudStack release whose API Lunar follows.
    static let cloudStackVersion = "4.20.0"
    static let lunarVersion = "0.1.0"

    static let listApis = APICommand(
        name: "listApis",
        description: "Lists the API commands the caller may use, with their parameters and responses",
        access: .anyUser,
        parameters: [APIParameter("name", .string, "Only this command")],
        responseName: "api",
        responseFields: [
            APIResponseField("name", "the command"), APIResponseField("description", "what it does"),
            APIResponseField("isasync", "boolean", "whether it runs as an async job"),
            APIResponseField("params", "set", "its parameters"), APIResponseField("response", "set", "its response fields"),
        ],
        execution: .sync { call in
            let wanted = call.parameters["name"]?.lowercased()
            let visible = call.server.commands.commands.filter {
                $0.isAvailable(to: call.caller) && (wanted == nil || $0.name.lowercased() == wanted)
            }
            if let wanted, visible.isEmpty {
                throw LunarError.invalidParameter("name", value: wanted, reason: "no such API command available to this user")
            }
            return .list(name: "api", items: visible.map(describe), total: visible.count)
        }
    )

    static func describe(_ command: APICommand) -> JSONObject {
        JSONObject([
            "name": command.name.json,
            "description": command.description.json,
            "isasync": command.isAsync.json,
            "since": "4.0.0",
            "type": command.access == .rootAdmin ? "admin" : "user",
            "params": .array(
                command.parameters.map { parameter in
                    .object(
                        JSONObject([
                            "name": parameter.name.json,
                            "description": parameter.description.json,
                            "type": parameter.kind.rawValue.json,
                            "length": parameter.length.json,
                            "required": parameter.isRequired.json,
                        ])
                    )
                }
            ),
            "response": .array(
                command.responseFields.map { field in
                    .object(JSONObject(["name": field.name.json, "description": field.description.json, "type": field.kind.json]))
                }
            ),
        ])
    }

    static let listCapabilities = APICommand(
        name: "listCapabilities",
        description: "Lists the capabilities of this cloud",
        access: .anyUser,
        parameters: [],
        responseName: "capability",
        responseFields: [APIResponseField("cloudstackversion", "the CloudStack API version followed"), APIResponseField("lunarversion", "Lunar's version")],
        execution: .sync { _ in
            .object(
                name: "capability",
                JSONObject([
                    "cloudstackversion": cloudStackVersion.json,
                    "lunarversion": lunarVersion.json,
                    "securitygroupsenabled": false,
                    "userpublictemplateenabled": false,
                    "supportELB": "false",
                    "projectinviterequired": false,
                    "allowusercreateprojects": false,
                    "kvmsnapshotenabled": false,
                    "dynamicrolesenabled": false,
                    "customdiskofferingminsize": 1,
                    "customdiskofferingmaxsize": 1024,
                    "apilimitinterval": 1,
                    "apilimitmax": 0,
                    "storagemanagediops": true,
                ])
            )
        }
    )
}
