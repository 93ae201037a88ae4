import LunarModel
import SQLKit

/// Column lists shared by the storage tables.
extension Store {
    typealias Column = (name: String, value: any Encodable & Sendable)

    func insert(_ sql: any SQLDatabase, into table: String, _ columns: [Column]) async throws {
        try await sql.insert(into: table).columns(columns.map(\.name)).values(columns.map { SQLBind($0.value) as any SQLExpression }).run()
    }

    static func rateColumns(_ limits: HypervisorRateLimits) -> [Column] {
        HypervisorRateLimits.Kind.allCases.flatMap { kind -> [Column] in
            let limit = limits[kind]
            return [(kind.columnStem, limit.rate), (kind.columnStem + "_max", limit.max), (kind.columnStem + "_max_length", limit.maxLength)]
        }
    }

    static func rateLimits(from row: any SQLRow) throws -> HypervisorRateLimits {
        var limits = HypervisorRateLimits()
        for kind in HypervisorRateLimits.Kind.allCases {
            limits[kind] = HypervisorRateLimits.Limit(
                rate: try row.decode(column: kind.columnStem, as: Int64?.self),
                max: try row.decode(column: kind.columnStem + "_max", as: Int64?.self),
                maxLength: try row.decode(column: kind.columnStem + "_max_length", as: Int64?.self)
            )
        }
        return limits
    }

    static func tags(from row: any SQLRow, column: String = "tags") throws -> [String] {
        try row.decode(column: column, as: String.self).split(separator: ",").map(String.init)
    }

    static func bool(from row: any SQLRow, _ column: String) throws -> Bool {
        try row.decode(column: column, as: Int.self) != 0
    }
}
