import ArgumentParser
import LunarModel

/// `lunar account list|create|delete|keys`
struct AccountCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "account", abstract: "Accounts and their API keys.", subcommands: [List.self, Create.self, Delete.self, Keys.self]
    )

    struct List: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        func run() async throws {
            try await Output.run {
                let reply = try await options.client().call("listAccounts")
                Output.printList(reply, key: "account", columns: ["id", "name", "roletype", "state"], json: options.json)
            }
        }
    }

    struct Create: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument(help: "The account (and first user) name.") var name: String
        @Option(help: "The user's password.") var password: String
        @Option(help: "The user's email.") var email = "nobody@localhost"
        @Flag(help: "Make a root admin account.") var admin = false
        func run() async throws {
            try await Output.run {
                let reply = try await options.client().call(
                    "createAccount",
                    ["username": name, "account": name, "password": password, "email": email, "firstname": name, "lastname": name,
                     "accounttype": admin ? "1" : "0"]
                )
                Output.printObject(reply["account"]?.objectValue ?? reply, json: options.json)
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument(help: "The account id.") var id: String
        func run() async throws {
            try await Output.run {
                let client = try options.client()
                let result = try await Output.wait(client, reply: try await client.call("deleteAccount", ["id": id]))
                Output.printObject(result, json: options.json)
            }
        }
    }

    struct Keys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Generate a new key pair for a user.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "The user id.") var user: String
        func run() async throws {
            try await Output.run {
                let reply = try await options.client().call("registerUserKeys", ["id": user])
                Output.printObject(reply["userkeys"]?.objectValue ?? reply, json: options.json)
            }
        }
    }
}

/// `lunar job list|show`
struct JobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "job", abstract: "Async jobs.", subcommands: [List.self, Show.self])

    struct List: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        func run() async throws {
            try await Output.run {
                let reply = try await options.client().call("listAsyncJobs", ["listall": "true"])
                Output.printList(reply, key: "asyncjobs", columns: ["jobid", "cmd", "jobstatus", "jobresultcode", "created"], json: options.json)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        @OptionGroup var options: ClientOptions
        @Argument(help: "The job id.") var id: String
        func run() async throws {
            try await Output.run {
                Output.printObject(try await options.client().call("queryAsyncJobResult", ["jobid": id]), json: options.json)
            }
        }
    }
}
