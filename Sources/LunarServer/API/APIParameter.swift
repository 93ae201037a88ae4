/// A parameter a command accepts, as `listApis` describes it and the dispatcher validates it.
public struct APIParameter: Sendable {
    /// CloudStack's parameter types (the `type` field of `listApis`).
    public enum Kind: String, Sendable {
        case string, uuid, long, integer, short, boolean, date, list, map
    }

    /// The lower-case wire name (names are matched case-insensitively).
    public let name: String
    public let kind: Kind
    public let isRequired: Bool
    /// The longest accepted value, in characters.
    public let length: Int
    public let description: String

    public init(_ name: String, _ kind: Kind, required: Bool = false, length: Int = 255, _ description: String) {
        precondition(name == name.lowercased(), "parameter names are declared lower-case")
        self.name = name
        self.kind = kind
        self.isRequired = required
        self.length = length
        self.description = description
    }

    /// `keyword`, `page`, `pagesize`, `listall`: the parameters every list command takes.
    public static let listing: [APIParameter] = [
        APIParameter("keyword", .string, "List by keyword"),
        APIParameter("page", .integer, "The page to return, from 1"),
        APIParameter("pagesize", .integer, "Items per page (at most 500; -1 for all)"),
        APIParameter("listall", .boolean, "Admins: list resources of every account, not only their own"),
    ]
}

/// A field of a command's response, for `listApis`.
public struct APIResponseField: Sendable {
    public let name: String
    public let kind: String
    public let description: String

    public init(_ name: String, _ kind: String, _ description: String) {
        self.name = name
        self.kind = kind
        self.description = description
    }

    public init(_ name: String, _ description: String) {
        self.init(name, "string", description)
    }
}
