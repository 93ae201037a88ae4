import Foundation
import LunarModel
import SQLKit

/// The domain's view of persistence: named operations, each one transaction. Services and API
/// commands use only this; SQL stays in the `Store+*.swift` files.
public struct Store: Sendable {
    public let database: Database
    public let time: any TimeSource
    /// Seals pool details that are secrets; nil keeps them as given (tests).
    public let secrets: ServerSecrets?

    public init(database: Database, time: any TimeSource, secrets: ServerSecrets? = nil) {
        self.database = database
        self.time = time
        self.secrets = secrets
    }

    /// Pool detail keys whose values are secrets, sealed at rest.
    static let secretDetails: Set<String> = ["token", "chapsecret"]

    var now: Int64 { time.nowEpochSeconds() }
}

/// Which slice of a listing to return (CloudStack's `page`/`pagesize`, 1-based pages).
public struct ListWindow: Sendable, Hashable {
    public var offset: Int
    public var limit: Int?

    public static let all = ListWindow(offset: 0, limit: nil)

    public init(offset: Int, limit: Int?) {
        precondition(offset >= 0)
        self.offset = offset
        self.limit = limit
    }
}

/// One page of a listing and the total number of matches (CloudStack's `count`).
public struct Page<Item: Sendable>: Sendable {
    public var items: [Item]
    public var total: Int
}

extension Store {
    /// Selects rows of `table` that pass `filter`, ordered by creation, in the window, with the total.
    func page<Item: Sendable>(
        _ sql: any SQLDatabase,
        table: String,
        window: ListWindow,
        filter: (SQLSelectBuilder) -> SQLSelectBuilder,
        map: (any SQLRow) throws -> Item
    ) async throws -> Page<Item> {
        let countRow = try await filter(
            sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n").from(table)
        ).first()
        let total = try countRow.map { try $0.decode(column: "n", as: Int.self) } ?? 0
        var query = filter(sql.select().column("*").from(table)).orderBy("created").orderBy("id")
        if let limit = window.limit { query = query.limit(limit) }
        if window.offset > 0 {
            // SQLite needs a LIMIT before OFFSET.
            if window.limit == nil { query = query.limit(Int(Int32.max)) }
            query = query.offset(window.offset)
        }
        let rows = try await query.all()
        return Page(items: try rows.map(map), total: total)
    }

    /// Decodes a column holding a raw-representable enum, failing loudly on a value the schema
    /// should have refused.
    static func decodeEnum<E: RawRepresentable>(_ row: any SQLRow, _ column: String, as type: E.Type) throws -> E
    where E.RawValue: Decodable {
        let raw = try row.decode(column: column, as: E.RawValue.self)
        guard let value = E(rawValue: raw) else {
            throw PersistenceError(.corruptRow, "column \(column) holds an unknown value \(raw)")
        }
        return value
    }

    static func like(_ keyword: String) -> String {
        "%" + keyword.replacingOccurrences(of: "%", with: "").replacingOccurrences(of: "_", with: "") + "%"
    }
}

extension SQLSelectBuilder {
    /// Adds `column = value` when a value is given.
    func filter(_ column: String, equals value: (some Encodable & Sendable)?) -> SQLSelectBuilder {
        guard let value else { return self }
        return self.where(SQLColumn(column), .equal, SQLBind(value))
    }
}
