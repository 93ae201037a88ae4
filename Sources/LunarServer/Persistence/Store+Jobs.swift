import Foundation
import LunarModel
import SQLKit

extension Store {
    /// Records a new pending job.
    public func insertJob(_ job: AsyncJob) async throws {
        precondition(job.status == .pending)
        let parameters = try String(decoding: JSONEncoder.sorted.encode(job.parameters), as: UTF8.self)
        try await database.write { sql in
            try await sql.raw(
                """
                INSERT INTO async_jobs (id, account_id, user_id, command, parameters, status, result_code, progress,
                    instance_type, instance_id, created) VALUES
                (\(bind: job.id.uuid), \(bind: job.accountID.uuid), \(bind: job.userID.uuid), \(bind: job.command),
                 \(bind: parameters), 0, 0, 0, \(bind: job.instanceType), \(bind: job.instanceID), \(bind: job.createdEpochSeconds))
                """
            ).run()
        }
    }

    /// Marks a pending job finished. A job already finished is left as it is.
    /// - Returns: whether this call finished it.
    @discardableResult
    public func finishJob(_ id: JobID, status: AsyncJob.Status, resultCode: Int, result: JSONObject) async throws -> Bool {
        precondition(status != .pending)
        precondition(status == .failed || resultCode == 0)
        return try await database.write { sql in
            guard let row = try await sql.raw("SELECT status FROM async_jobs WHERE id = \(bind: id.uuid)").first(),
                try row.decode(column: "status", as: Int.self) == AsyncJob.Status.pending.rawValue
            else { return false }
            try await sql.raw(
                """
                UPDATE async_jobs SET status = \(bind: status.rawValue), result_code = \(bind: resultCode),
                    result = \(bind: result.serialized), progress = 100, completed = \(bind: now)
                WHERE id = \(bind: id.uuid)
                """
            ).run()
            return true
        }
    }

    /// Sets the id of the object a job works on (known only once a create step ran).
    public func setJobInstance(_ id: JobID, type: String, instanceID: String) async throws {
        try await database.write { sql in
            try await sql.raw(
                "UPDATE async_jobs SET instance_type = \(bind: type), instance_id = \(bind: instanceID) WHERE id = \(bind: id.uuid)"
            ).run()
        }
    }

    public func setJobProgress(_ id: JobID, percent: Int) async throws {
        try await database.write { sql in
            try await sql.raw(
                "UPDATE async_jobs SET progress = \(bind: min(max(percent, 0), 99)) WHERE id = \(bind: id.uuid) AND status = 0"
            ).run()
        }
    }

    public func job(_ id: JobID) async throws -> AsyncJob? {
        try await database.read { sql in
            try await sql.raw("SELECT * FROM async_jobs WHERE id = \(bind: id.uuid)").first().map(Self.job(from:))
        }
    }

    public func jobs(accountID: AccountID?, window: ListWindow) async throws -> Page<AsyncJob> {
        try await database.read { sql in
            try await page(sql, table: "async_jobs", window: window) { query in
                query.filter("account_id", equals: accountID?.uuid)
            } map: { try Self.job(from: $0) }
        }
    }

    /// Jobs left unfinished, oldest first (what a restarting server must resume or fail).
    public func pendingJobs() async throws -> [AsyncJob] {
        try await database.read { sql in
            try await sql.raw("SELECT * FROM async_jobs WHERE status = 0 ORDER BY created, id").all().map(Self.job(from:))
        }
    }

    public func numberOfPendingJobs() async throws -> Int {
        try await database.read { sql in try await count(sql, "SELECT COUNT(*) AS n FROM async_jobs WHERE status = 0") }
    }

    /// Appends a step to a job's journal.
    @discardableResult
    public func journal(_ jobID: JobID, step name: String, state: JobStep.State, detail: String? = nil) async throws -> JobStep {
        try await database.write { sql in
            let next = try await count(sql, "SELECT COUNT(*) AS n FROM async_job_steps WHERE job_id = \(bind: jobID.uuid)")
            let step = JobStep(jobID: jobID, sequence: next, name: name, state: state, detail: detail, atEpochSeconds: now)
            try await sql.raw(
                """
                INSERT INTO async_job_steps (job_id, seq, name, state, detail, at) VALUES
                (\(bind: jobID.uuid), \(bind: step.sequence), \(bind: name), \(bind: state.rawValue), \(bind: detail), \(bind: step.atEpochSeconds))
                """
            ).run()
            return step
        }
    }

    public func steps(of jobID: JobID) async throws -> [JobStep] {
        try await database.read { sql in
            try await sql.raw("SELECT * FROM async_job_steps WHERE job_id = \(bind: jobID.uuid) ORDER BY seq").all().map { row in
                JobStep(
                    jobID: jobID,
                    sequence: try row.decode(column: "seq", as: Int.self),
                    name: try row.decode(column: "name", as: String.self),
                    state: try Self.decodeEnum(row, "state", as: JobStep.State.self),
                    detail: try row.decode(column: "detail", as: String?.self),
                    atEpochSeconds: try row.decode(column: "at", as: Int64.self)
                )
            }
        }
    }

    static func job(from row: any SQLRow) throws -> AsyncJob {
        let parametersText = try row.decode(column: "parameters", as: String.self)
        let parameters = try JSONDecoder().decode([String: String].self, from: Data(parametersText.utf8))
        let resultText = try row.decode(column: "result", as: String?.self)
        let result = try resultText.map { try JSONValue.parse($0).objectValue ?? JSONObject() }
        return AsyncJob(
            id: JobID(trusted: try row.decode(column: "id", as: String.self)),
            accountID: AccountID(trusted: try row.decode(column: "account_id", as: String.self)),
            userID: UserID(trusted: try row.decode(column: "user_id", as: String.self)),
            command: try row.decode(column: "command", as: String.self),
            parameters: parameters,
            status: try decodeEnum(row, "status", as: AsyncJob.Status.self),
            resultCode: try row.decode(column: "result_code", as: Int.self),
            result: result,
            progress: try row.decode(column: "progress", as: Int.self),
            instanceType: try row.decode(column: "instance_type", as: String?.self),
            instanceID: try row.decode(column: "instance_id", as: String?.self),
            createdEpochSeconds: try row.decode(column: "created", as: Int64.self),
            completedEpochSeconds: try row.decode(column: "completed", as: Int64?.self)
        )
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}
