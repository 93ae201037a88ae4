import ArgumentParser
import Foundation
import LunarClient
import LunarModel

/// `lunar vm list|show|deploy|start|stop|migrate|attach|detach|console`: VMs by id or name,
/// tables by default, each async call waited for.
struct VMCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vm", abstract: "Virtual machines: deploy, start, stop, migrate, attach and detach disks, read the console.",
        subcommands: [List.self, Show.self, Deploy.self, Start.self, Stop.self, Migrate.self, Attach.self, Detach.self, Console.self]
    )

    static let columns = ["id", "name", "state", "hostname", "hypervisor", "templatename", "serviceofferingname", "haenable"]

    /// The VM an argument names: an id, else a unique name.
    static func find(_ client: LunarAPIClient, _ text: String) async throws -> JSONObject {
        let byID: JSONObject = UUID(uuidString: text) != nil ? try await client.call("listVirtualMachines", ["id": text, "listall": "true"]) : JSONObject([:])
        if let vm = byID["virtualmachine"]?.arrayValue?.first?.objectValue { return vm }
        let byName = try await client.call("listVirtualMachines", ["name": text, "listall": "true"])["virtualmachine"]?.arrayValue ?? []
        let matches = byName.compactMap(\.objectValue).filter { $0["name"]?.stringValue == text }
        guard matches.count == 1, let vm = matches.first else {
            throw LunarClientError.api(matches.isEmpty ? LunarError.unknownID("virtual machine", text) : LunarError.refused("\(matches.count) VMs are named \(text); give an id"))
        }
        return vm
    }

    /// The id of what `text` names in a list reply (an id or a name), for hosts, templates, offerings.
    static func id(_ client: LunarAPIClient, _ command: String, key: String, _ text: String, extra: [String: String] = [:]) async throws -> String {
        let items = (try await client.call(command, extra)[key]?.arrayValue ?? []).compactMap(\.objectValue)
        guard let item = items.first(where: { $0["id"]?.stringValue == text.lowercased() || $0["name"]?.stringValue == text }), let id = item["id"]?.stringValue else {
            throw LunarClientError.api(LunarError.unknownID(key, text))
        }
        return id
    }

    /// Runs an async API call, waits for its job, and prints the object under `key` of its result.
    static func run(_ command: String, _ parameters: [String: String], on client: LunarAPIClient, showing key: String, json: Bool) async throws {
        let result = try await Output.wait(client, reply: try await client.call(command, parameters))
        Output.printObject(result[key]?.objectValue ?? result, json: json)
    }

    static func field(_ object: JSONObject, _ key: String) throws -> String {
        guard let value = object[key]?.stringValue else { throw LunarClientError.badResponse("no \(key) in the reply") }
        return value
    }

    struct List: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        func run() async throws {
            try await Output.run {
                let reply = try await options.client().call("listVirtualMachines", ["listall": "true"])
                Output.printList(reply, key: "virtualmachine", columns: VMCommand.columns, json: options.json)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument(help: "The VM's id or name.") var vm: String
        func run() async throws {
            try await Output.run {
                let client = try options.client()
                let vm = try await VMCommand.find(client, vm)
                Output.printObject(vm, json: options.json)
                if !options.json {
                    let volumes = try await client.call("listVolumes", ["virtualmachineid": try VMCommand.field(vm, "id"), "listall": "true"])
                    print("")
                    Output.printList(volumes, key: "volume", columns: ["id", "name", "type", "deviceid", "size", "miniops", "maxiops", "qosenforcedby", "storage"], json: false)
                }
            }
        }
    }

    struct Deploy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deploy and start a VM.",
            discussion: "Example: `lunar vm deploy web1 --disk-offering iops-500`. Defaults: the first zone, the `small` service offering, the featured lunar-guest template when there is one (else the first featured)."
        )
        @OptionGroup var options: ClientOptions
        @Argument(help: "The VM's name.") var name: String
        @Option(help: "The template, id or name.") var template: String?
        @Option(help: "The service offering, id or name.") var offering = "small"
        @Option(help: "A data disk from this disk offering, id or name.") var diskOffering: String?
        @Option(help: "The data disk's size in GB (customized offerings).") var size: Int64?
        @Option(help: "The data disk's guaranteed IOPS (custom IOPS offerings).") var minIops: Int64?
        @Option(help: "The data disk's IOPS cap (custom IOPS offerings).") var maxIops: Int64?
        @Option(help: "The host, id or name (admins).") var host: String?
        @Option(help: "The zone, id or name.") var zone: String?
        func run() async throws {
            try await Output.run {
                let client = try options.client()
                var parameters = ["name": name]
                let zones = (try await client.call("listZones")["zone"]?.arrayValue ?? []).compactMap(\.objectValue)
                guard let firstZone = zones.first else { throw LunarClientError.api(LunarError.refused("there is no zone")) }
                parameters["zoneid"] = try zone.map { text in
                    guard let match = zones.first(where: { $0["id"]?.stringValue == text || $0["name"]?.stringValue == text }) else {
                        throw LunarClientError.api(LunarError.unknownID("zone", text))
                    }
                    return try VMCommand.field(match, "id")
                } ?? VMCommand.field(firstZone, "id")
                if let template {
                    parameters["templateid"] = try await VMCommand.id(client, "listTemplates", key: "template", template, extra: ["templatefilter": "executable"])
                } else {
                    let featured = (try await client.call("listTemplates", ["templatefilter": "featured"])["template"]?.arrayValue ?? []).compactMap(\.objectValue)
                    guard let chosen = featured.first(where: { $0["name"]?.stringValue == "lunar-guest" }) ?? featured.first else {
                        throw LunarClientError.api(LunarError.refused("no featured template: give --template"))
                    }
                    parameters["templateid"] = try VMCommand.field(chosen, "id")
                }
                parameters["serviceofferingid"] = try await VMCommand.id(client, "listServiceOfferings", key: "serviceoffering", offering)
                if let diskOffering { parameters["diskofferingid"] = try await VMCommand.id(client, "listDiskOfferings", key: "diskoffering", diskOffering) }
                if let host { parameters["hostid"] = try await VMCommand.id(client, "listHosts", key: "host", host) }
                parameters["size"] = size.map(String.init)
                parameters["miniops"] = minIops.map(String.init)
                parameters["maxiops"] = maxIops.map(String.init)
                try await VMCommand.run("deployVirtualMachine", parameters, on: client, showing: "virtualmachine", json: options.json)
            }
        }
    }

    /// start, stop: one async call on the VM.
    struct Start: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument(help: "The VM's id or name.") var vm: String
        @Option(help: "The host, id or name (admins).") var host: String?
        func run() async throws {
            try await Output.run {
                let client = try options.client()
                var parameters = ["id": try VMCommand.field(try await VMCommand.find(client, vm), "id")]
                if let host { parameters["hostid"] = try await VMCommand.id(client, "listHosts", key: "host", host) }
                try await VMCommand.run("startVirtualMachine", parameters, on: client, showing: "virtualmachine", json: options.json)
            }
        }
    }

    struct Stop: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument(help: "The VM's id or name.") var vm: String
        @Flag(help: "Force it off (the host is fenced even if its agent cannot be reached).") var forced = false
        func run() async throws {
            try await Output.run {
                let client = try options.client()
                let id = try VMCommand.field(try await VMCommand.find(client, vm), "id")
                try await VMCommand.run("stopVirtualMachine", ["id": id, "forced": String(forced)], on: client, showing: "virtualmachine", json: options.json)
            }
        }
    }

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Live-migrate a running VM (to another host of its hypervisor when --host is not given).")
        @OptionGroup var options: ClientOptions
        @Argument(help: "The VM's id or name.") var vm: String
        @Option(help: "The destination host, id or name.") var host: String?
        func run() async throws {
            try await Output.run {
                let client = try options.client()
                let found = try await VMCommand.find(client, vm)
                var parameters = ["virtualmachineid": try VMCommand.field(found, "id")]
                if let host {
                    parameters["hostid"] = try await VMCommand.id(client, "listHosts", key: "host", host)
                } else {
                    let hosts = (try await client.call("listHosts", ["state": "Up"])["host"]?.arrayValue ?? []).compactMap(\.objectValue)
                    guard let other = hosts.first(where: { $0["id"] != found["hostid"] && $0["hypervisor"] == found["hypervisor"] && $0["state"]?.stringValue == "Up" }),
                        let id = other["id"]?.stringValue
                    else { throw LunarClientError.api(LunarError.refused("no other Up host of its hypervisor")) }
                    parameters["hostid"] = id
                }
                try await VMCommand.run("migrateVirtualMachine", parameters, on: client, showing: "virtualmachine", json: options.json)
            }
        }
    }

    struct Attach: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Attach a volume to a VM (hot, when it runs).")
        @OptionGroup var options: ClientOptions
        @Argument(help: "The volume's id.") var volume: String
        @Argument(help: "The VM's id or name.") var vm: String
        func run() async throws {
            try await Output.run {
                let client = try options.client()
                let id = try VMCommand.field(try await VMCommand.find(client, vm), "id")
                try await VMCommand.run("attachVolume", ["id": volume, "virtualmachineid": id], on: client, showing: "volume", json: options.json)
            }
        }
    }

    struct Detach: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Detach a volume from its VM (hot, when it runs).")
        @OptionGroup var options: ClientOptions
        @Argument(help: "The volume's id.") var volume: String
        func run() async throws {
            try await Output.run {
                let client = try options.client()
                try await VMCommand.run("detachVolume", ["id": volume], on: client, showing: "volume", json: options.json)
            }
        }
    }

    struct Console: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a VM's serial console log so far (kept across migrations and restarts) and exit.",
            discussion: "The log is <data>/consoles/<vm id>.log (the older part in .log.1), bounded at about 1 MiB each."
        )
        @OptionGroup var options: ClientOptions
        @Argument(help: "The VM's id or name.") var vm: String
        func run() async throws {
            try await Output.run {
                let id = try VMCommand.field(try await VMCommand.find(try options.client(), vm), "id")
                let base = (options.dataFolder as NSString).appendingPathComponent("consoles/\(id).log")
                var printed = false
                for path in [base + ".1", base] {
                    guard let data = FileManager.default.contents(atPath: path) else { continue }
                    FileHandle.standardOutput.write(data)
                    printed = true
                }
                if !printed { FileHandle.standardError.write(Data("no console log for \(id) in \(options.dataFolder)/consoles (a simulated VM has none)\n".utf8)) }
            }
        }
    }
}
