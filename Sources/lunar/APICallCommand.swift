import ArgumentParser
import LunarModel

/// `lunar api <command> key=value...`: any API command, signed with the stored keys.
struct APICallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api",
        abstract: "Call any API command, e.g. `lunar api listZones name=z1`.",
        discussion: "Async commands are waited for unless --no-wait is given; the reply is printed as JSON."
    )

    @OptionGroup var options: ClientOptions

    @Flag(name: .long, help: "Return the job id of an async command at once.")
    var noWait = false

    @Argument(help: "The API command, e.g. listZones.")
    var command: String

    @Argument(help: "Parameters as key=value.")
    var parameters: [String] = []

    func run() async throws {
        let parameters = try KeyValueArguments.parse(parameters)
        try await Output.run {
            let client = try options.client()
            let reply = try await client.call(command, parameters)
            if !noWait, reply["jobid"] != nil {
                print(try await Output.wait(client, reply: reply).serialized)
            } else {
                print(reply.serialized)
            }
        }
    }
}
