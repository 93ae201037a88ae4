/// Every command the server answers, by lower-cased name: the one table that routes, validates
/// and documents (`listApis`).
public struct CommandTable: Sendable {
    public let commands: [APICommand]
    private let byName: [String: APICommand]

    public init(_ commands: [APICommand]) {
        var byName: [String: APICommand] = [:]
        for command in commands {
            precondition(byName[command.name.lowercased()] == nil, "command \(command.name) declared twice")
            byName[command.name.lowercased()] = command
        }
        self.commands = commands.sorted { $0.name < $1.name }
        self.byName = byName
    }

    public subscript(name: String) -> APICommand? { byName[name.lowercased()] }
}
