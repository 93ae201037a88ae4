import ArgumentParser
import Foundation
import LunarClient
import LunarModel

/// `lunar san account ...`: accounts own volumes; logins to their volumes need CHAP, with the
/// account name as the CHAP user. Secrets are printed by `create` and by `show --secrets` only.
struct SANAccountCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "account", abstract: "Manage accounts: the CHAP identities that own volumes.",
        subcommands: [Create.self, List.self, Show.self, Delete.self]
    )

    static func printSecrets(_ secrets: SANAccountSecrets, json: Bool) throws {
        if json {
            print(try SANOutput.encode(secrets))
            return
        }
        print("name              \(secrets.name)  (the CHAP user name)")
        print("initiator secret  \(secrets.initiatorSecret)")
        print("target secret     \(secrets.targetSecret)  (mutual CHAP)")
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an account; secrets (12 to 16 characters) are generated unless given.")
        @Argument var name: String
        @Option(name: .customLong("initiator-secret"), help: "The secret initiators log in with.") var initiatorSecret: String?
        @Option(name: .customLong("target-secret"), help: "The secret the target answers mutual CHAP with.") var targetSecret: String?
        @OptionGroup var options: SANClientOptions
        func run() async throws {
            try await Output.run {
                try SANAccountCommand.printSecrets(
                    try await options.client().createAccount(name, initiatorSecret: initiatorSecret, targetSecret: targetSecret), json: options.json
                )
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the accounts (never their secrets).")
        @OptionGroup var options: SANClientOptions
        func run() async throws {
            try await Output.run {
                let accounts = try await options.client().listAccounts()
                if options.json {
                    print(try SANOutput.encode(accounts))
                    return
                }
                let rows = accounts.map { account -> JSONObject in
                    var row = JSONObject()
                    row["name"] = .string(account.name)
                    row["volumes"] = .string(account.volumes.joined(separator: ","))
                    row["created"] = .string(account.created)
                    return row
                }
                print(Table.render(rows: rows, columns: ["name", "volumes", "created"]))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an account; its secrets only with --secrets.")
        @Argument var name: String
        @Flag(name: .long, help: "Print the CHAP secrets too.") var secrets = false
        @OptionGroup var options: SANClientOptions
        func run() async throws {
            try await Output.run {
                let client = try options.client()
                if secrets {
                    try SANAccountCommand.printSecrets(try await client.accountSecrets(name), json: options.json)
                    return
                }
                let account = try await client.account(name)
                if options.json {
                    print(try SANOutput.encode(account))
                } else {
                    print("name     \(account.name)\nvolumes  \(account.volumes.joined(separator: ", "))\ncreated  \(account.created)")
                }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an account that owns no volume.")
        @Argument var name: String
        @OptionGroup var options: SANClientOptions
        func run() async throws {
            try await Output.run {
                try await options.client().deleteAccount(name)
                print("deleted \(name)")
            }
        }
    }
}
