import LunarModel

/// A request's parameters, looked up case-insensitively, with typed getters. Values have been
/// checked against the command's declaration before a command sees them, so a getter fails only
/// on a value a command checks further (e.g. an enum), with a 431.
public struct APIParameters: Sendable {
    /// Lower-cased name → value (the first value of a repeated name).
    public private(set) var values: [String: String]

    public init(_ pairs: [(name: String, value: String)]) {
        var values: [String: String] = [:]
        for pair in pairs where values[pair.name.lowercased()] == nil {
            values[pair.name.lowercased()] = pair.value
        }
        self.values = values
    }

    public init(values: [String: String]) {
        self.values = values
    }

    public subscript(name: String) -> String? { values[name.lowercased()] }

    public func string(_ name: String) -> String? { self[name] }

    public func requiredString(_ name: String, command: String) throws -> String {
        guard let value = self[name], !value.isEmpty else { throw LunarError.missingParameter(name, command: command) }
        return value
    }

    public func id<Entity>(_ name: String, as type: Identifier<Entity>.Type = Identifier<Entity>.self) throws -> Identifier<Entity>? {
        guard let value = self[name] else { return nil }
        guard let id = Identifier<Entity>(value) else {
            throw LunarError.invalidParameter(name, value: value, reason: "not a UUID")
        }
        return id
    }

    public func requiredID<Entity>(_ name: String, command: String, as type: Identifier<Entity>.Type = Identifier<Entity>.self) throws -> Identifier<Entity> {
        guard let id = try self.id(name, as: type) else { throw LunarError.missingParameter(name, command: command) }
        return id
    }

    public func int64(_ name: String) throws -> Int64? {
        guard let value = self[name] else { return nil }
        guard let number = Int64(value) else { throw LunarError.invalidParameter(name, value: value, reason: "not a whole number") }
        return number
    }

    public func int(_ name: String) throws -> Int? {
        guard let value = try int64(name) else { return nil }
        guard let number = Int(exactly: value), number >= Int(Int32.min), number <= Int(Int32.max) else {
            throw LunarError.invalidParameter(name, value: String(value), reason: "out of range")
        }
        return number
    }

    /// `true`/`false` in any case, as CloudStack accepts them.
    public func bool(_ name: String) throws -> Bool? {
        guard let value = self[name] else { return nil }
        switch value.lowercased() {
        case "true": return true
        case "false": return false
        default: throw LunarError.invalidParameter(name, value: value, reason: "expected true or false")
        }
    }

    /// A value that must be one of the cases of `E` (matched case-insensitively).
    public func choice<E: RawRepresentable & CaseIterable>(_ name: String, as type: E.Type) throws -> E? where E.RawValue == String {
        guard let value = self[name] else { return nil }
        guard let match = E.allCases.first(where: { $0.rawValue.lowercased() == value.lowercased() }) else {
            let allowed = E.allCases.map(\.rawValue).joined(separator: ", ")
            throw LunarError.invalidParameter(name, value: value, reason: "expected one of \(allowed)")
        }
        return match
    }

    /// The listing window from `page` and `pagesize`.
    public func window(maximumPageSize: Int = 500) throws -> ListWindow {
        let page = try int("page")
        let pageSize = try int("pagesize")
        if let page, page < 1 { throw LunarError.invalidParameter("page", value: String(page), reason: "pages start at 1") }
        if let pageSize, pageSize == -1 {
            return .all
        }
        if let pageSize, pageSize < 1 || pageSize > maximumPageSize {
            throw LunarError.invalidParameter("pagesize", value: String(pageSize), reason: "expected 1 to \(maximumPageSize), or -1 for all")
        }
        guard page != nil || pageSize != nil else { return .all }
        let size = pageSize ?? maximumPageSize
        return ListWindow(offset: ((page ?? 1) - 1) * size, limit: size)
    }

    /// The parameters worth keeping with a job (credentials and signing fields removed).
    public var forJournal: [String: String] {
        values.filter { !["apikey", "signature", "signatureversion", "expires", "password", "secretkey", "response", "command"].contains($0.key) }
    }
}
