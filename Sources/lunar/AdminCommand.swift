import ArgumentParser

/// `lunar admin ...`: operations on the whole installation.
struct AdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "admin", abstract: "Installation-wide operations.", subcommands: [Reconcile.self])

    struct Reconcile: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove (fenced) every access to managed storage that no recorded grant justifies, and report what was fixed."
        )
        @OptionGroup var options: ClientOptions
        @Flag(name: .customLong("dry-run"), help: "Only report what would be removed.") var dryRun = false

        func run() async throws {
            try await Output.run {
                let reply = try await options.client().call("reconcileStorageAccess", dryRun ? ["dryrun": "true"] : [:])
                let count = reply["accessfix"]?.arrayValue?.count ?? 0
                if count == 0 && !options.json {
                    print("nothing to fix")
                    return
                }
                Output.printList(reply, key: "accessfix", columns: ["storagename", "path", "initiator", "action"], json: options.json)
            }
        }
    }
}
