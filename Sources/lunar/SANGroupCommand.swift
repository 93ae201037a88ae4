import ArgumentParser
import Foundation
import LunarClient
import LunarModel

/// `lunar san group ...`: volume access groups (an initiator may log in to a volume only if some
/// group holds both). Removals answer after the initiators that lost access are fenced off.
struct SANGroupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "group", abstract: "Manage volume access groups: initiators in a group may log in to the group's volumes.",
        subcommands: [Create.self, Delete.self, List.self, Show.self, AddInitiator.self, RemoveInitiator.self, AddVolume.self, RemoveVolume.self]
    )

    static func print(_ group: SANAccessGroupInfo, json: Bool) throws {
        if json {
            Swift.print(try SANOutput.encode(group))
            return
        }
        Swift.print("name        \(group.name)\(group.automatic ? " (a volume's own group)" : "")")
        Swift.print("initiators  \(group.initiators.joined(separator: ", "))")
        Swift.print("volumes     \(group.volumes.joined(separator: ", "))")
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an empty group.")
        @Argument var name: String
        @OptionGroup var options: SANClientOptions
        func run() async throws {
            try await Output.run { try SANGroupCommand.print(try await options.client().createGroup(name), json: options.json) }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a group; what it granted is revoked (fenced) first.")
        @Argument var name: String
        @OptionGroup var options: SANClientOptions
        func run() async throws {
            try await Output.run {
                try await options.client().deleteGroup(name)
                Swift.print("deleted \(name)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the groups.")
        @OptionGroup var options: SANClientOptions
        func run() async throws {
            try await Output.run {
                let groups = try await options.client().listGroups()
                if options.json {
                    Swift.print(try SANOutput.encode(groups))
                    return
                }
                let rows = groups.map { group -> JSONObject in
                    var row = JSONObject()
                    row["name"] = .string(group.name)
                    row["initiators"] = .string(group.initiators.joined(separator: ","))
                    row["volumes"] = .string(group.volumes.joined(separator: ","))
                    return row
                }
                Swift.print(Table.render(rows: rows, columns: ["name", "initiators", "volumes"]))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a group.")
        @Argument var name: String
        @OptionGroup var options: SANClientOptions
        func run() async throws {
            try await Output.run { try SANGroupCommand.print(try await options.client().group(name), json: options.json) }
        }
    }

    struct AddInitiator: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add-initiator", abstract: "Add an initiator IQN to a group.")
        @Argument var name: String
        @Argument var iqn: String
        @OptionGroup var options: SANClientOptions
        func run() async throws {
            try await Output.run { try SANGroupCommand.print(try await options.client().addInitiator(iqn, toGroup: name), json: options.json) }
        }
    }

    struct RemoveInitiator: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove-initiator", abstract: "Remove an initiator from a group; returns after it is fenced off the volumes it lost."
        )
        @Argument var name: String
        @Argument var iqn: String
        @OptionGroup var options: SANClientOptions
        func run() async throws {
            try await Output.run { try SANGroupCommand.print(try await options.client().removeInitiator(iqn, fromGroup: name), json: options.json) }
        }
    }

    struct AddVolume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add-volume", abstract: "Add a volume to a group.")
        @Argument var name: String
        @Argument var volume: String
        @OptionGroup var options: SANClientOptions
        func run() async throws {
            try await Output.run { try SANGroupCommand.print(try await options.client().addVolume(volume, toGroup: name), json: options.json) }
        }
    }

    struct RemoveVolume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove-volume", abstract: "Remove a volume from a group; returns after the group's initiators are fenced off it."
        )
        @Argument var name: String
        @Argument var volume: String
        @OptionGroup var options: SANClientOptions
        func run() async throws {
            try await Output.run { try SANGroupCommand.print(try await options.client().removeVolume(volume, fromGroup: name), json: options.json) }
        }
    }
}
