import Foundation
import Logging
import LunarModel
import LunarServer
import SQLKit
import Testing

struct PersistenceTests {
    let logger = TestSupport.quietLogger

    @Test func migrationsApplyOnceAndReopenCleanly() async throws {
        let path = TestSupport.temporaryDirectory() + "/lunar.db"
        let first = try await Database.openSQLite(path: path, logger: logger)
        let names = try await first.read { sql in
            try await sql.raw("SELECT name FROM lunar_migrations ORDER BY name").all().map { try $0.decode(column: "name", as: String.self) }
        }
        #expect(names == Migrations.all.map(\.name))
        await first.close()
        let second = try await Database.openSQLite(path: path, logger: logger)
        let count = try await second.read { sql in try await sql.raw("SELECT COUNT(*) AS n FROM lunar_migrations").first()?.decode(column: "n", as: Int.self) }
        #expect(count == Migrations.all.count)
        await second.close()
    }

    @Test func aDatabaseFromANewerLunarIsRefusedWithAClearMessage() async throws {
        let path = TestSupport.temporaryDirectory() + "/lunar.db"
        let database = try await Database.openSQLite(path: path, logger: logger)
        try await database.write { sql in
            try await sql.raw("INSERT INTO lunar_migrations (name, applied_at) VALUES ('9999_from_the_future', 0)").run()
        }
        await database.close()
        do {
            _ = try await Database.openSQLite(path: path, logger: logger)
            Issue.record("a newer schema was accepted")
        } catch let error as PersistenceError {
            #expect(error.code == .schemaTooNew)
            #expect(error.description.contains("9999_from_the_future"))
            #expect(error.description.contains("newer Lunar"))
        }
    }

    @Test func theSchemaEnforcesStatesKeysAndUniqueness() async throws {
        let database = try await Database.openSQLite(path: nil, logger: logger)
        let store = Store(database: database, time: SystemTimeSource())
        _ = try await store.bootstrapRootAdmin(password: "x")
        let statements = [
            // Unknown state.
            "INSERT INTO accounts (id, name, domain_id, type, state, created) VALUES ('a', 'n', '\(Domain.rootID.uuid)', 0, 'sleeping', 0)",
            // Unknown account type.
            "INSERT INTO accounts (id, name, domain_id, type, state, created) VALUES ('a', 'n', '\(Domain.rootID.uuid)', 7, 'enabled', 0)",
            // A domain that does not exist.
            "INSERT INTO accounts (id, name, domain_id, type, state, created) VALUES ('a', 'n', 'nowhere', 0, 'enabled', 0)",
            // The same name twice in a domain.
            "INSERT INTO accounts (id, name, domain_id, type, state, created) VALUES ('a', 'admin', '\(Domain.rootID.uuid)', 0, 'enabled', 0)",
            // A pod in no zone.
            "INSERT INTO pods (id, name, zone_id, allocation_state, created) VALUES ('p', 'p', 'nowhere', 'Enabled', 0)",
            // A finished job without a completion time.
            "INSERT INTO async_jobs (id, account_id, user_id, command, parameters, status, result_code, created) SELECT 'j', id, 'u', 'c', '{}', 1, 0, 0 FROM accounts LIMIT 1",
            // A key without its secret.
            "UPDATE users SET secret_key = NULL",
        ]
        for statement in statements {
            await #expect(throws: (any Error).self, "\(statement)") {
                try await database.write { sql in try await sql.raw(SQLQueryString(statement)).run() }
            }
        }
        await database.close()
    }

    @Test func aFailingMigrationLeavesNoTrace() async throws {
        let database = try await Database.openSQLite(path: nil, logger: logger)
        let broken = Migration(name: "0002_broken", statements: ["CREATE TABLE half_done (x TEXT)", "THIS IS NOT SQL"])
        await #expect(throws: PersistenceError.self) {
            try await _MigratorAccess.migrate(database, [Migrations.all[0], broken], logger: logger)
        }
        let tables = try await database.read { sql in
            try await sql.raw("SELECT name FROM sqlite_master WHERE name = 'half_done'").all().count
        }
        #expect(tables == 0)
        let recorded = try await database.read { sql in
            try await sql.raw("SELECT 1 FROM lunar_migrations WHERE name = '0002_broken'").all().count
        }
        #expect(recorded == 0)
        await database.close()
    }

    @Test func aFinishedJobSurvivesARestart() async throws {
        let directory = TestSupport.temporaryDirectory()
        let (jobID, adminKeys) = try await TestSupport.withServer(dataDirectory: directory) { (server: TestServer) async throws in
            let victim = try await server.makeAccount("victim")
            let jobID = try #require(try await server.admin.call("deleteAccount", ["id": victim.accountID])["jobid"]?.stringValue)
            _ = try await server.admin.waitForJob(jobID, timeoutSeconds: 30, pollInterval: .milliseconds(20))
            return (jobID, server.admin.keys)
        }
        try await TestSupport.withServer(dataDirectory: directory) { (server: TestServer) async throws in
            #expect(server.admin.keys == adminKeys, "the root admin is made once")
            let job = try await server.admin.call("queryAsyncJobResult", ["jobid": jobID])
            #expect(job["jobstatus"]?.intValue == 1)
            #expect(job["jobresult"]?["success"] == true)
        }
    }

    @Test func anInterruptedResumableJobIsFinishedAtStart() async throws {
        let directory = TestSupport.temporaryDirectory()
        let (accountID, adminKeys) = try await TestSupport.withServer(dataDirectory: directory) { (server: TestServer) async throws in
            (try await server.makeAccount("doomed").accountID, server.admin.keys)
        }
        // Simulate a crash between accepting deleteAccount and running it: the row is there, pending.
        let jobID = JobID.random()
        let database = try await Database.openSQLite(path: directory + "/lunar.db", logger: logger)
        let store = Store(database: database, time: SystemTimeSource())
        let credentials = try #require(try await store.credentials(apiKey: adminKeys.apiKey))
        try await store.insertJob(
            AsyncJob(
                id: jobID, accountID: credentials.account.id, userID: credentials.user.id, command: "deleteAccount", parameters: ["id": accountID],
                status: .pending, resultCode: 0, result: nil, progress: 0, instanceType: "Account", instanceID: accountID, createdEpochSeconds: 0,
                completedEpochSeconds: nil
            )
        )
        let orphanID = JobID.random()
        try await store.insertJob(
            AsyncJob(
                id: orphanID, accountID: credentials.account.id, userID: credentials.user.id, command: "someRetiredCommand", parameters: [:],
                status: .pending, resultCode: 0, result: nil, progress: 0, instanceType: nil, instanceID: nil, createdEpochSeconds: 0,
                completedEpochSeconds: nil
            )
        )
        await database.close()

        try await TestSupport.withServer(dataDirectory: directory) { (server: TestServer) async throws in
            let result = try await server.admin.waitForJob(jobID.uuid, timeoutSeconds: 30, pollInterval: .milliseconds(20))
            #expect(result["success"] == true)
            #expect(try await server.admin.call("listAccounts", ["id": accountID]).isEmpty)
            // A job that cannot be resumed is failed with a reason, never left pending.
            let orphan = try await server.admin.call("queryAsyncJobResult", ["jobid": orphanID.uuid])
            #expect(orphan["jobstatus"]?.intValue == 2)
            #expect(orphan["jobresultcode"]?.intValue == 530)
            #expect(orphan["jobresult"]?["errortext"]?.stringValue?.contains("server restart") == true)
        }
        // The journal shows what happened.
        let reopened = try await Database.openSQLite(path: directory + "/lunar.db", logger: logger)
        let steps = try await Store(database: reopened, time: SystemTimeSource()).steps(of: jobID)
        #expect(steps.map(\.name) == ["recovery", "delete account", "delete account"])
        #expect(steps.map(\.state) == [.started, .started, .done])
        await reopened.close()
    }

    @Test func theGateBoundsWaiters() async throws {
        let database = try await Database.openSQLite(path: nil, logger: logger, maximumWaiters: 2)
        let (release, releaseContinuation) = AsyncStream.makeStream(of: Void.self)
        let (held, heldContinuation) = AsyncStream.makeStream(of: Void.self)
        async let holder: Void = database.read { _ in
            heldContinuation.yield()
            for await _ in release { break }
        }
        for await _ in held { break }
        async let first: Int = database.read { _ in 1 }
        async let second: Int = database.read { _ in 2 }
        try await Task.sleep(for: .milliseconds(100))
        await #expect(throws: LunarError.self) { _ = try await database.read { _ in 3 } }
        releaseContinuation.yield()
        try await holder
        #expect(try await first + second == 3)
        await database.close()
    }
}
