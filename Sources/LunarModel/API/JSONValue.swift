import Foundation

/// A JSON value with ordered objects, so replies keep CloudStack's field order. Replies leave an
/// absent value out (setting nil removes a key); a `null` that was parsed is kept as `.null`.
public enum JSONValue: Sendable, Hashable {
    case null
    case string(String)
    case integer(Int64)
    case double(Double)
    case bool(Bool)
    case array([JSONValue])
    case object(JSONObject)

    /// The serialized text (compact, UTF-8).
    public var serialized: String {
        var output = ""
        write(to: &output)
        return output
    }

    func write(to output: inout String) {
        switch self {
        case .null: output += "null"
        case .string(let value): Self.writeString(value, to: &output)
        case .integer(let value): output += String(value)
        case .double(let value):
            if value.isFinite {
                output += value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
            } else {
                output += "0"
            }
        case .bool(let value): output += value ? "true" : "false"
        case .array(let values):
            output += "["
            for (index, value) in values.enumerated() {
                if index > 0 { output += "," }
                value.write(to: &output)
            }
            output += "]"
        case .object(let object): object.write(to: &output)
        }
    }

    static func writeString(_ string: String, to output: inout String) {
        output += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case let c where c.value < 0x20:
                output += String(format: "\\u%04x", c.value)
            default: output.unicodeScalars.append(scalar)
            }
        }
        output += "\""
    }

    /// Objects and arrays nested deeper than this are refused (hostile input).
    static let maximumDepth = 128

    /// Parses JSON text with Foundation's `JSONSerialization`. Objects come back with their keys
    /// sorted (JSON objects are unordered; `JSONObject` equality ignores order); `null` is `.null`.
    public static func parse(_ data: Data) throws -> JSONValue {
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw LunarError(.parameterError, "malformed JSON: \(error.localizedDescription)")
        }
        return try convert(parsed, depth: 0)
    }

    static func convert(_ value: Any, depth: Int) throws -> JSONValue {
        guard depth <= maximumDepth else { throw LunarError(.parameterError, "malformed JSON: nested too deeply") }
        switch value {
        case is NSNull:
            return .null
        case let string as String:
            return .string(string)
        case let number as NSNumber:
            // JSONSerialization answers true/false as a boolean NSNumber ("c"), numbers with a
            // fraction or exponent as doubles ("d"/"f"), and whole numbers as integers.
            switch String(cString: number.objCType) {
            case "c" where String(describing: type(of: number)).contains("Boolean"): return .bool(number.boolValue)
            case "d", "f": return .double(number.doubleValue)
            default: return .integer(number.int64Value)
            }
        case let array as [Any]:
            return .array(try array.map { try convert($0, depth: depth + 1) })
        case let dictionary as [String: Any]:
            var object = JSONObject()
            for key in dictionary.keys.sorted() { object.entries.append((key, try convert(dictionary[key]!, depth: depth + 1))) }
            return .object(object)
        default:
            throw LunarError(.parameterError, "malformed JSON: unexpected value \(type(of: value))")
        }
    }

    /// Parses JSON text, keeping object key order.
    public static func parse(_ text: String) throws -> JSONValue {
        try parse(Data(text.utf8))
    }

    // MARK: Accessors used by clients and tests.

    public subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    public var stringValue: String? {
        switch self {
        case .string(let value): value
        case .integer(let value): String(value)
        case .double(let value): String(value)
        case .bool(let value): String(value)
        default: nil
        }
    }

    public var intValue: Int64? {
        switch self {
        case .integer(let value): value
        case .double(let value): Int64(exactly: value)
        case .string(let value): Int64(value)
        default: nil
        }
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var objectValue: JSONObject? {
        if case .object(let value) = self { return value }
        return nil
    }
}

/// A JSON object that keeps insertion order (replies follow CloudStack's field order). Setting
/// `nil` leaves the key out; equality, like JSON's, ignores the order.
public struct JSONObject: Sendable, Hashable {
    public internal(set) var entries: [(key: String, value: JSONValue)] = []

    public init() {}

    public init(_ pairs: KeyValuePairs<String, JSONValue?>) {
        for (key, value) in pairs { self[key] = value }
    }

    public subscript(key: String) -> JSONValue? {
        get { entries.first(where: { $0.key == key })?.value }
        set {
            if let index = entries.firstIndex(where: { $0.key == key }) {
                if let newValue { entries[index].value = newValue } else { entries.remove(at: index) }
            } else if let newValue {
                entries.append((key, newValue))
            }
        }
    }

    public var keys: [String] { entries.map(\.key) }
    public var isEmpty: Bool { entries.isEmpty }

    func write(to output: inout String) {
        output += "{"
        for (index, entry) in entries.enumerated() {
            if index > 0 { output += "," }
            JSONValue.writeString(entry.key, to: &output)
            output += ":"
            entry.value.write(to: &output)
        }
        output += "}"
    }

    public var serialized: String { JSONValue.object(self).serialized }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.entries.count == rhs.entries.count && lhs.entries.allSatisfy { entry in rhs[entry.key] == entry.value }
    }

    public func hash(into hasher: inout Hasher) {
        for entry in entries.sorted(by: { $0.key < $1.key }) {
            hasher.combine(entry.key)
            hasher.combine(entry.value)
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

extension Optional where Wrapped == String {
    /// `.string` or nil, for building objects where an empty value is left out.
    public var json: JSONValue? { self.map(JSONValue.string) }
}

extension String {
    public var json: JSONValue { .string(self) }
}

extension Int {
    public var json: JSONValue { .integer(Int64(self)) }
}

extension Int64 {
    public var json: JSONValue { .integer(self) }
}

extension Bool {
    public var json: JSONValue { .bool(self) }
}
