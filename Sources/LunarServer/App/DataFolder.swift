import Foundation
import LunarModel
import Synchronization

/// The data folder's small files, written atomically (temp file, then rename) so a reader never
/// sees half a file; secrets with mode 0600.
public struct DataFolder: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    public func create() throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    public func file(_ name: String) -> String {
        (path as NSString).appendingPathComponent(name)
    }

    /// Writes `data` to `name` atomically with the given permissions.
    public func write(_ data: Data, to name: String, permissions: Int) throws {
        let final = file(name)
        let temporary = final + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: permissions]) else {
            throw LunarError(.internalError, "cannot write \(temporary)")
        }
        // createFile honours the umask; set the mode explicitly before the file becomes visible.
        try FileManager.default.setAttributes([.posixPermissions: permissions], ofItemAtPath: temporary)
        guard rename(temporary, final) == 0 else {
            try? FileManager.default.removeItem(atPath: temporary)
            throw LunarError(.internalError, "cannot rename \(temporary) to \(final): errno \(errno)")
        }
    }

    public func writeJSON(_ value: some Encodable, to name: String, permissions: Int = 0o644) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try write(encoder.encode(value), to: name, permissions: permissions)
    }

    public func readJSON<T: Decodable>(_ type: T.Type, from name: String) throws -> T? {
        guard let data = FileManager.default.contents(atPath: file(name)) else { return nil }
        return try JSONDecoder().decode(type, from: data)
    }

    /// Merges fields into `endpoints.json` (each role adds its own; roles in one process take
    /// turns, so neither loses the other's field).
    public func updateEndpoints(_ update: (inout LunarEndpoints) -> Void) throws {
        try Self.endpointsLock.withLock { _ in try updateEndpointsLocked(update) }
    }

    static let endpointsLock = Mutex(())

    func updateEndpointsLocked(_ update: (inout LunarEndpoints) -> Void) throws {
        var endpoints = (try? readJSON(LunarEndpoints.self, from: LunarEndpoints.fileName)) ?? LunarEndpoints()
        update(&endpoints)
        try writeJSON(endpoints, to: LunarEndpoints.fileName)
    }
}
