import LunarModel

/// One API command: its declaration (what `listApis` prints and what the dispatcher validates)
/// and its implementation, in one value, so routing, validation and documentation cannot drift.
public struct APICommand: Sendable {
    /// Who may call a command. A caller who may not sees it as nonexistent (432), as CloudStack's
    /// role checker does.
    public enum Access: Sendable {
        case rootAdmin
        case anyUser
    }

    /// How a command runs.
    public enum Execution: Sendable {
        /// Answers in the request.
        case sync(@Sendable (APICall) async throws -> APIReply)
        /// Validates in the request, then runs the returned plan as an async job.
        case async(@Sendable (APICall) async throws -> JobPlan)
    }

    public let name: String
    public let description: String
    public let access: Access
    public let parameters: [APIParameter]
    public let responseFields: [APIResponseField]
    /// The key of the object (or list of objects) in the reply, e.g. `zone`.
    public let responseName: String?
    public let execution: Execution
    /// For async commands that are idempotent: how to finish the job after a server restart.
    public let resume: (@Sendable (APICall, JobContext) async throws -> JSONObject)?

    public init(
        name: String,
        description: String,
        access: Access,
        parameters: [APIParameter],
        responseName: String? = nil,
        responseFields: [APIResponseField] = [],
        execution: Execution,
        resume: (@Sendable (APICall, JobContext) async throws -> JSONObject)? = nil
    ) {
        precondition(Set(parameters.map(\.name)).count == parameters.count, "duplicate parameter in \(name)")
        self.name = name
        self.description = description
        self.access = access
        self.parameters = parameters
        self.responseName = responseName
        self.responseFields = responseFields
        self.execution = execution
        self.resume = resume
    }

    public var isAsync: Bool {
        if case .async = execution { return true }
        return false
    }

    func isAvailable(to caller: Caller) -> Bool {
        switch access {
        case .rootAdmin: caller.isRootAdmin
        case .anyUser: true
        }
    }
}

/// The work of an async command, decided while the request was validated.
public struct JobPlan: Sendable {
    public var instanceType: String?
    public var instanceID: String?
    /// Returned as `id` beside `jobid` (create commands).
    public var createdID: String?
    public var work: @Sendable (JobContext) async throws -> JSONObject

    public init(instanceType: String? = nil, instanceID: String? = nil, createdID: String? = nil, work: @escaping @Sendable (JobContext) async throws -> JSONObject) {
        self.instanceType = instanceType
        self.instanceID = instanceID
        self.createdID = createdID
        self.work = work
    }
}

/// What a sync command answers, inside `{"<command>response": ...}`.
public enum APIReply: Sendable {
    /// `{"<name>": {...}}`
    case object(name: String, JSONObject)
    /// `{"count": N, "<name>": [...]}`, or `{}` when there is nothing.
    case list(name: String, items: [JSONObject], total: Int)
    /// `{"success": true}`
    case success
    /// The fields themselves.
    case fields(JSONObject)

    var body: JSONObject {
        switch self {
        case .object(let name, let object):
            return JSONObject([name: .object(object)])
        case .list(let name, let items, let total):
            guard total > 0 else { return JSONObject() }
            return JSONObject(["count": .integer(Int64(total)), name: .array(items.map(JSONValue.object))])
        case .success:
            return JSONObject(["success": true])
        case .fields(let object):
            return object
        }
    }
}

/// The authenticated caller.
public struct Caller: Sendable {
    public var user: User
    public var account: Account

    public var isRootAdmin: Bool { account.isRootAdmin }

    /// Whether the caller may see or touch something owned by `accountID`.
    public func owns(_ accountID: AccountID) -> Bool {
        isRootAdmin || account.id == accountID
    }
}

/// One invocation of a command.
public struct APICall: Sendable {
    public let command: APICommand
    public let parameters: APIParameters
    public let caller: Caller
    public let server: ServerContext
}
