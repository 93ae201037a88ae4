import Logging
import LunarModel
import NIOCore
import SQLKit

/// The driver's database with one addition: inside a deterministic simulation each statement is
/// counted as outside work (it runs on the driver's threads), so the simulation's executor waits
/// for its answer before it runs anything else and the answer lands at the same point every run.
/// Outside simulations it only forwards.
struct ObservedSQLDatabase: SQLDatabase {
    let base: any SQLDatabase

    var logger: Logger { base.logger }
    var eventLoop: any EventLoop { base.eventLoop }
    var version: (any SQLDatabaseReportedVersion)? { base.version }
    var dialect: any SQLDialect { base.dialect }
    var queryLogLevel: Logger.Level? { base.queryLogLevel }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) -> EventLoopFuture<Void> {
        base.execute(sql: query, onRow)
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        guard let outside = Deterministic.outsideWork else { return try await base.execute(sql: query, onRow) }
        outside.begin()
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            base.execute(sql: query, onRow).whenComplete { result in
                // Resumed first, so the waiting task is queued before the executor may move on.
                continuation.resume(with: result)
                outside.end()
            }
        }
    }
}
