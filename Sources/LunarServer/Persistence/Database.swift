import Foundation
import Logging
import LunarModel
import NIOPosix
import SQLKit
import SQLiteKit
import SQLiteNIO

/// The management server's database: one SQL connection behind a FIFO gate, with closure-scoped
/// transactions. Services never see SQL drivers, only ``Store``; a PostgreSQL backend is another
/// initializer here producing an `any SQLDatabase` (statements are written in the common subset).
public final class Database: Sendable {
    /// The SQL dialect, for the few places DDL differs.
    public enum Dialect: Sendable {
        case sqlite
        case postgres
    }

    let sql: any SQLDatabase
    let dialect: Dialect
    private let gate: SerialGate
    private let closeConnection: @Sendable () async throws -> Void

    init(sql: any SQLDatabase, dialect: Dialect, maximumWaiters: Int, close: @escaping @Sendable () async throws -> Void) {
        self.sql = sql
        self.dialect = dialect
        self.gate = SerialGate(maximumWaiters: maximumWaiters)
        self.closeConnection = close
    }

    /// Opens (creating if needed) an SQLite database file, or an in-memory one when `path` is nil,
    /// and brings its schema up to date.
    /// - Throws: ``PersistenceError`` when the file was written by a newer Lunar, or cannot be opened.
    public static func openSQLite(path: String?, logger: Logger, maximumWaiters: Int = 10_000) async throws -> Database {
        let storage: SQLiteConnection.Storage = path.map { .file(path: $0) } ?? .memory
        let connection: SQLiteConnection
        do {
            connection = try await SQLiteConnection.open(storage: storage, logger: logger)
        } catch {
            throw PersistenceError(.cannotOpen, "cannot open database \(path ?? ":memory:"): \(error)")
        }
        let database = Database(
            // No query logging: binds include API secrets and password hashes.
            sql: ObservedSQLDatabase(base: connection.sql(queryLogLevel: nil)),
            dialect: .sqlite,
            maximumWaiters: maximumWaiters,
            close: { try await connection.close() }
        )
        do {
            // Durability first: a control plane that forgets a grant is worse than a slow one.
            for pragma in ["PRAGMA foreign_keys = ON", "PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL", "PRAGMA busy_timeout = 5000"] {
                try await database.sql.raw(SQLQueryString(pragma)).run()
            }
            try await Migrator(migrations: Migrations.all).migrate(database, logger: logger)
        } catch {
            try? await connection.close()
            throw error
        }
        return database
    }

    /// Runs `body` alone on the connection, outside a transaction (reads).
    public func read<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        try await gate.withLock { try await body(sql) }
    }

    /// Runs `body` in a transaction: committed if it returns, rolled back if it throws.
    public func write<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        try await gate.withLock { try await unguardedTransaction(body) }
    }

    /// A transaction for callers that already hold the gate (the migrator).
    func unguardedTransaction<T>(_ body: (any SQLDatabase) async throws -> T) async throws -> T {
        try await sql.raw(dialect == .sqlite ? "BEGIN IMMEDIATE" : "BEGIN").run()
        do {
            let result = try await body(sql)
            try await sql.raw("COMMIT").run()
            return result
        } catch {
            try? await sql.raw("ROLLBACK").run()
            throw Self.translate(error)
        }
    }

    func withGate<T>(_ body: () async throws -> T) async throws -> T {
        try await gate.withLock(body)
    }

    /// Closes the connection at once, not waiting for the statements queued at the gate (they then
    /// fail): what a crash leaves, an open transaction rolled back by SQLite. Simulations of a
    /// server dying use it; a server stopping uses `close()`.
    public func abandon() async throws {
        try await closeConnection()
    }

    /// Closes the connection. Further use fails.
    public func close() async {
        try? await gate.withLock { try await closeConnection() }
    }

    /// Turns a driver's constraint failure into a parameter error (the schema refused the data),
    /// leaving Lunar's own errors untouched.
    static func translate(_ error: any Error) -> any Error {
        if error is LunarError || error is PersistenceError { return error }
        let text = String(describing: error)
        if text.contains("constraint") || text.contains("UNIQUE") || text.contains("FOREIGN KEY") {
            return LunarError(.parameterError, "refused by the database: \(text)")
        }
        return error
    }
}

/// A failure of the database itself (as opposed to a refused request).
public struct PersistenceError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable {
        let rawValue: String
        public static let cannotOpen = Code(rawValue: "cannotOpen")
        public static let schemaTooNew = Code(rawValue: "schemaTooNew")
        public static let migrationFailed = Code(rawValue: "migrationFailed")
        public static let corruptRow = Code(rawValue: "corruptRow")
    }

    public let code: Code
    public let reason: String

    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { reason }
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
