import Foundation
import LunarModel

/// Templates: registered from a URL (downloaded into secondary storage in the background), listed
/// with CloudStack's filters, deleted with their copies on every pool. `listOsTypes` names the
/// guest OS types `ostypeid` takes.
enum TemplateCommands {
    static let all = [registerTemplate, listTemplates, deleteTemplate, listOsTypes]

    static let templateFields = [
        APIResponseField("id", "the template id"), APIResponseField("name", "the name"), APIResponseField("displaytext", "the description"),
        APIResponseField("format", "RAW or QCOW2"), APIResponseField("hypervisor", "KVM or Simulator"),
        APIResponseField("isready", "boolean", "downloaded and usable"), APIResponseField("status", "Download Complete, the progress, or why it failed"),
        APIResponseField("size", "long", "the disk size in bytes"), APIResponseField("physicalsize", "long", "the bytes downloaded"),
        APIResponseField("ostypeid", "the guest OS type"), APIResponseField("zoneid", "the zone"), APIResponseField("account", "the owner"),
    ]

    static let registerTemplate = APICommand(
        name: "registerTemplate",
        description: "Registers a template from an HTTP(S) URL; it downloads into secondary storage (isready once checked)",
        access: .anyUser,
        parameters: [
            APIParameter("name", .string, required: true, "The template's name"),
            APIParameter("displaytext", .string, length: 4096, "Its description (the name when absent)"),
            APIParameter("url", .string, required: true, length: 2048, "Where the image is (http:// or https://)"),
            APIParameter("format", .string, required: true, "RAW or QCOW2"),
            APIParameter("hypervisor", .string, required: true, "KVM (or Simulator)"),
            APIParameter("ostypeid", .uuid, required: true, "The guest OS type (listOsTypes)"),
            APIParameter("zoneid", .string, required: true, "The zone (-1: every zone)"),
            APIParameter("checksum", .string, "The image's digest: {MD5}, {SHA-1}, {SHA-256}, {SHA-512} then hex, or bare hex"),
            APIParameter("ispublic", .boolean, "Every account may use it"), APIParameter("isfeatured", .boolean, "Admins: list it as featured"),
            APIParameter("isextractable", .boolean, "Ignored"), APIParameter("passwordenabled", .boolean, "Ignored"),
            APIParameter("requireshvm", .boolean, "Ignored"), APIParameter("directdownload", .boolean, "Refused when true"),
        ],
        responseName: "template",
        responseFields: templateFields,
        execution: .sync { call in
            let p = call.parameters
            let command = call.command.name
            guard let name = p["name"], !name.isEmpty, name.count <= 255 else { throw LunarError.missingParameter("name", command: command) }
            guard let url = p["url"], let components = URLComponents(string: url), ["http", "https"].contains(components.scheme?.lowercased() ?? ""),
                components.host?.isEmpty == false
            else {
                throw LunarError.invalidParameter("url", value: p["url"] ?? "", reason: "templates are downloaded from an http:// or https:// URL")
            }
            guard let format = Template.Format(rawValue: (p["format"] ?? "").uppercased()) else {
                throw LunarError.invalidParameter("format", value: p["format"] ?? "", reason: "RAW or QCOW2")
            }
            guard let hypervisor = HypervisorType(caseInsensitive: p["hypervisor"] ?? "") else {
                throw LunarError.invalidParameter("hypervisor", value: p["hypervisor"] ?? "", reason: "KVM or Simulator")
            }
            let osTypeID = p["ostypeid"] ?? ""
            guard let osType = OSType.named(id: osTypeID) else { throw LunarError.unknownID("OS type", osTypeID, parameter: "ostypeid") }
            var zoneID: ZoneID?
            if let zone = p["zoneid"], zone != "-1" {
                let id: ZoneID = try p.requiredID("zoneid", command: command)
                guard try await call.server.store.zone(id) != nil else { throw LunarError.unknownID("zone", zone, parameter: "zoneid") }
                zoneID = id
            }
            let checksum = try p["checksum"].flatMap { $0.isEmpty ? nil : $0 }.map { text -> String in
                _ = try TemplateChecksum(parsing: text)
                return text
            }
            if try p.bool("directdownload") == true {
                throw LunarError.invalidParameter("directdownload", value: "true", reason: "Lunar copies templates onto each pool; direct download is not offered")
            }
            let featured = try p.bool("isfeatured") ?? false
            if featured, !call.caller.isRootAdmin { throw LunarError.invalidParameter("isfeatured", value: "true", reason: "only administrators feature templates") }
            let template = Template(
                id: .random(), name: name, displayText: p["displaytext"].flatMap { $0.isEmpty ? nil : $0 } ?? name, format: format, sizeBytes: 0,
                osTypeID: osType.id, osTypeName: osType.description, isFeatured: featured, isPublic: try p.bool("ispublic") ?? false, hypervisor: hypervisor,
                url: url, checksum: checksum, zoneID: zoneID, accountID: call.caller.account.id, state: .downloading, status: "Downloading",
                createdEpochSeconds: call.server.time.nowEpochSeconds()
            )
            try await call.server.store.insertTemplate(template)
            call.server.templates.poke()
            var names = NameCache(store: call.server.store)
            return .list(name: "template", items: [try await template.response(names: &names)], total: 1)
        }
    )

    static let listTemplates = APICommand(
        name: "listTemplates",
        description: "Lists templates: the built-in one and those registered",
        access: .anyUser,
        parameters: [
            APIParameter("templatefilter", .string, required: true, "featured, self, selfexecutable, sharedexecutable, executable, community or all"),
            APIParameter("id", .uuid, "List by id"), APIParameter("name", .string, "List by name"), APIParameter("zoneid", .uuid, "List by zone"),
            APIParameter("hypervisor", .string, "List by hypervisor"),
        ] + APIParameter.listing,
        responseName: "template",
        responseFields: templateFields,
        execution: .sync { call in
            let p = call.parameters
            guard let filter = try p.choice("templatefilter", as: Template.Filter.self) else {
                throw LunarError.missingParameter("templatefilter", command: call.command.name)
            }
            let caller = call.caller
            var templates = try await call.server.store.allTemplates().filter {
                $0.isListed(under: filter, for: caller.account.id, isAdmin: caller.isRootAdmin)
            }
            if let id = try p.id("id", as: TemplateID.self) { templates = templates.filter { $0.id == id } }
            if let name = p["name"] { templates = templates.filter { $0.name == name } }
            if let keyword = p["keyword"]?.lowercased() { templates = templates.filter { $0.name.lowercased().contains(keyword) } }
            if let text = p["hypervisor"] {
                guard let hypervisor = HypervisorType(caseInsensitive: text) else { throw LunarError.invalidParameter("hypervisor", value: text, reason: "KVM or Simulator") }
                templates = templates.filter { $0.hypervisor == hypervisor }
            }
            if let zoneID = try p.id("zoneid", as: ZoneID.self) {
                guard try await call.server.store.zone(zoneID) != nil else { throw LunarError.unknownID("zone", zoneID.uuid, parameter: "zoneid") }
                templates = templates.filter { $0.zoneID == nil || $0.zoneID == zoneID }
            }
            let window = try p.window()
            let page = templates.dropFirst(window.offset).prefix(window.limit ?? Int.max)
            var names = NameCache(store: call.server.store)
            var items: [JSONObject] = []
            for template in page { items.append(try await template.response(names: &names)) }
            return .list(name: "template", items: items, total: templates.count)
        }
    )

    static let deleteTemplate = APICommand(
        name: "deleteTemplate",
        description: "Deletes a template, its copy on every pool and its image in secondary storage (root disks made from it stay)",
        access: .anyUser,
        parameters: [APIParameter("id", .uuid, required: true, "The template"), APIParameter("zoneid", .uuid, "Ignored (templates are deleted from every zone)")],
        responseFields: [APIResponseField("success", "boolean", "true when done")],
        execution: .sync { call in
            let id: TemplateID = try call.parameters.requiredID("id", command: call.command.name)
            guard id != Template.builtIn.id else { throw LunarError.refused("the built-in template cannot be deleted") }
            guard let template = try await call.server.store.template(id), call.caller.isRootAdmin || template.accountID == call.caller.account.id else {
                throw LunarError.unknownID("template", id.uuid)
            }
            try await TemplateService(server: call.server).delete(template)
            return .success
        }
    )

    static let listOsTypes = APICommand(
        name: "listOsTypes",
        description: "Lists the guest OS types templates name",
        access: .anyUser,
        parameters: [APIParameter("id", .uuid, "List by id"), APIParameter("description", .string, "List by description")] + APIParameter.listing,
        responseName: "ostype",
        responseFields: [APIResponseField("id", "the OS type id"), APIResponseField("description", "its name")],
        execution: .sync { call in
            var types = OSType.all
            if let id = call.parameters["id"] { types = types.filter { $0.id == id.lowercased() } }
            if let text = call.parameters["description"] { types = types.filter { $0.description == text } }
            return .list(
                name: "ostype", items: types.map { JSONObject(["id": $0.id.json, "description": $0.description.json, "oscategoryid": "", "isuserdefined": false]) },
                total: types.count
            )
        }
    )
}
