/// A long-running API command. Its row, and the journal of its steps, live in the database so a
/// server that restarts mid-job finds it and can resume or fail it.
public struct AsyncJob: Sendable, Hashable {
    /// CloudStack's `jobstatus`.
    public enum Status: Int, Sendable, Hashable {
        case pending = 0
        case succeeded = 1
        case failed = 2
    }

    public var id: JobID
    public var accountID: AccountID
    public var userID: UserID
    /// The API command name, e.g. `deleteAccount`.
    public var command: String
    /// The command's parameters (lower-cased names; credentials removed), so it can be resumed.
    public var parameters: [String: String]
    public var status: Status
    /// 0 while pending or on success; the error code on failure.
    public var resultCode: Int
    /// The result object (success), or `errorcode`/`errortext` (failure).
    public var result: JSONObject?
    /// Progress reported by the job (CloudStack's `jobprocstatus`).
    public var progress: Int
    public var instanceType: String?
    public var instanceID: String?
    public var createdEpochSeconds: Int64
    public var completedEpochSeconds: Int64?

    public init(
        id: JobID, accountID: AccountID, userID: UserID, command: String, parameters: [String: String],
        status: Status, resultCode: Int, result: JSONObject?, progress: Int, instanceType: String?,
        instanceID: String?, createdEpochSeconds: Int64, completedEpochSeconds: Int64?
    ) {
        self.id = id
        self.accountID = accountID
        self.userID = userID
        self.command = command
        self.parameters = parameters
        self.status = status
        self.resultCode = resultCode
        self.result = result
        self.progress = progress
        self.instanceType = instanceType
        self.instanceID = instanceID
        self.createdEpochSeconds = createdEpochSeconds
        self.completedEpochSeconds = completedEpochSeconds
    }
}

/// One journaled step of a job: multi-step flows record each step before and after doing it, so
/// after a crash the server knows exactly how far a job got and what to undo.
public struct JobStep: Sendable, Hashable {
    public enum State: String, Sendable, Hashable, CaseIterable {
        case started, done, failed, undone
    }

    public var jobID: JobID
    public var sequence: Int
    public var name: String
    public var state: State
    public var detail: String?
    public var atEpochSeconds: Int64

    public init(jobID: JobID, sequence: Int, name: String, state: State, detail: String?, atEpochSeconds: Int64) {
        self.jobID = jobID
        self.sequence = sequence
        self.name = name
        self.state = state
        self.detail = detail
        self.atEpochSeconds = atEpochSeconds
    }
}
