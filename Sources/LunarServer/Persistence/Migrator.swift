import Foundation
import Logging
import SQLKit

/// A named, forward-only schema change. Once released, a migration is never edited: a change
/// to the schema is a new migration appended to ``Migrations/all``.
public struct Migration: Sendable {
    public let name: String
    public let statements: [String]

    public init(name: String, statements: [String]) {
        self.name = name
        self.statements = statements
    }
}

/// Applies pending migrations in order, each in its own transaction, and refuses a database that
/// has migrations this binary does not know (it was written by a newer Lunar).
struct Migrator {
    let migrations: [Migration]

    init(migrations: [Migration]) {
        precondition(Set(migrations.map(\.name)).count == migrations.count, "duplicate migration names")
        self.migrations = migrations
    }

    /// - Returns: the names of the migrations applied now.
    @discardableResult
    func migrate(_ database: Database, logger: Logger) async throws -> [String] {
        try await database.withGate {
            try await database.sql.raw(
                "CREATE TABLE IF NOT EXISTS lunar_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)"
            ).run()
            let applied = try await database.sql.raw("SELECT name FROM lunar_migrations").all()
                .map { try $0.decode(column: "name", as: String.self) }
            let known = Set(migrations.map(\.name))
            let unknown = applied.filter { !known.contains($0) }.sorted()
            guard unknown.isEmpty else {
                throw PersistenceError(
                    .schemaTooNew,
                    "this database was written by a newer Lunar (it has migrations this binary does not know: "
                        + unknown.joined(separator: ", ") + "); run a Lunar at least as new as the one that wrote it"
                )
            }
            let done = Set(applied)
            var appliedNow: [String] = []
            for migration in migrations where !done.contains(migration.name) {
                do {
                    try await database.unguardedTransaction { sql in
                        for statement in migration.statements {
                            try await sql.raw(SQLQueryString(statement)).run()
                        }
                        try await sql.raw(
                            "INSERT INTO lunar_migrations (name, applied_at) VALUES (\(bind: migration.name), \(bind: Int64(Date().timeIntervalSince1970)))"
                        ).run()
                    }
                } catch {
                    throw PersistenceError(.migrationFailed, "migration \(migration.name) failed and was rolled back: \(error)")
                }
                logger.info("applied migration", metadata: ["db.migration": .string(migration.name)])
                appliedNow.append(migration.name)
            }
            return appliedNow
        }
    }
}

/// Lets tests run the migrator with a migration list of their own.
public enum _MigratorAccess {
    public static func migrate(_ database: Database, _ migrations: [Migration], logger: Logger) async throws {
        try await Migrator(migrations: migrations).migrate(database, logger: logger)
    }
}
