import ArgumentParser
import Foundation
import LunarClient
import LunarModel

/// How client commands find a running Lunar: `--data`, or `LUNAR_DATA`, or `./lunar-data`.
struct ClientOptions: ParsableArguments {
    @Option(name: .long, help: "The data folder of a running Lunar (default: $LUNAR_DATA, else ./lunar-data).")
    var data: String?

    @Flag(name: .long, help: "Print the raw JSON reply instead of a table.")
    var json = false

    var dataFolder: String {
        data ?? ProcessInfo.processInfo.environment["LUNAR_DATA"] ?? "./lunar-data"
    }

    func client() throws -> LunarAPIClient {
        try LunarAPIClient.forDataFolder(dataFolder)
    }
}

/// Shared output for the friendly nouns.
enum Output {
    /// Prints a list reply as a table (or JSON).
    static func printList(_ reply: JSONObject, key: String, columns: [String], json: Bool) {
        if json {
            print(reply.serialized)
            return
        }
        let rows = reply[key]?.arrayValue?.compactMap(\.objectValue) ?? []
        print(Table.render(rows: rows, columns: columns))
    }

    /// Prints one object as `field  value` lines (or JSON).
    static func printObject(_ object: JSONObject, json: Bool) {
        if json {
            print(object.serialized)
            return
        }
        let width = object.keys.map(\.count).max() ?? 0
        for entry in object.entries {
            let value: String
            switch entry.value {
            case .array, .object: value = entry.value.serialized
            default: value = entry.value.stringValue ?? ""
            }
            print(entry.key.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value)
        }
    }

    /// Runs a client call, turning failures into a message and exit code 1.
    static func run(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as LunarClientError {
            FileHandle.standardError.write(Data("lunar: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// A lookup that found nothing, reported like any client error.
    static func notFound(_ id: String) -> LunarClientError {
        .api(LunarError.unknownID("object", id))
    }

    /// Waits for an async job, showing a progress line on stderr.
    static func wait(_ client: LunarAPIClient, reply: JSONObject) async throws -> JSONObject {
        guard let jobID = reply["jobid"]?.stringValue else { return reply }
        let interactive = isatty(STDERR_FILENO) != 0
        let result = try await client.waitForJob(jobID) { percent in
            if interactive { FileHandle.standardError.write(Data("\rjob \(jobID): \(percent)%   ".utf8)) }
        }
        if interactive { FileHandle.standardError.write(Data("\rjob \(jobID): done      \n".utf8)) }
        return result
    }
}

/// Aligned text tables.
enum Table {
    static func render(rows: [JSONObject], columns: [String]) -> String {
        let cells = rows.map { row in columns.map { row[$0]?.stringValue ?? "" } }
        let widths = columns.indices.map { index in
            max(columns[index].count, cells.map { $0[index].count }.max() ?? 0)
        }
        func line(_ values: [String]) -> String {
            zip(values, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }
        return ([line(columns.map { $0.uppercased() })] + cells.map(line)).joined(separator: "\n")
    }
}

/// `key=value` arguments.
enum KeyValueArguments {
    static func parse(_ arguments: [String]) throws -> [String: String] {
        var parameters: [String: String] = [:]
        for argument in arguments {
            guard let equals = argument.firstIndex(of: "="), equals != argument.startIndex else {
                throw ValidationError("expected key=value, got '\(argument)'")
            }
            parameters[String(argument[..<equals])] = String(argument[argument.index(after: equals)...])
        }
        return parameters
    }
}
