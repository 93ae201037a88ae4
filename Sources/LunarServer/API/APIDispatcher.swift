import Foundation
import Logging
import LunarModel

/// The CloudStack API without HTTP: parameters in, status and JSON out. Order of checks follows
/// CloudStack: response format, credentials (401), command and role (432), parameters (431),
/// then the command itself; anything unexpected is a 530 and changes nothing.
public struct APIDispatcher: Sendable {
    /// What goes back over HTTP.
    public struct Response: Sendable {
        public var status: Int
        public var body: String
        /// The error text, for the `X-Description` header.
        public var errorDescription: String?
        /// `Set-Cookie` values (a login's session).
        public var cookies: [String] = []
    }

    let server: ServerContext
    let commands: CommandTable
    let authenticator: Authenticator

    init(server: ServerContext, commands: CommandTable) {
        self.server = server
        self.commands = commands
        self.authenticator = Authenticator(store: server.store, time: server.time)
    }

    public func dispatch(_ raw: [(name: String, value: String)]) async -> Response {
        let parameters = APIParameters(raw)
        let commandName = parameters["command"]
        let responseKey = (commandName.map { $0.lowercased() } ?? "error") + "response"
        var logger = server.logger
        logger[metadataKey: "api.command"] = .string(String((commandName ?? "-").prefix(64)))
        do {
            if let format = parameters["response"], format.lowercased() != "json" {
                throw LunarError(.parameterError, "response=\(format.prefix(16)) is not supported; Lunar answers response=json only")
            }
            if commandName?.lowercased() == "login" { return try await login(parameters, key: responseKey) }
            let caller = try await authenticator.authenticate(raw, parameters: parameters)
            logger[metadataKey: "api.user"] = .string(caller.user.username)
            guard let commandName, !commandName.isEmpty else {
                throw LunarError(.parameterError, "missing parameter command")
            }
            guard let command = commands[commandName], command.isAvailable(to: caller) else {
                throw LunarError(.unsupportedAction, "The given command \(commandName.prefix(64)) does not exist or it is not available for user")
            }
            try Self.validate(parameters, against: command)
            let call = APICall(command: command, parameters: parameters, caller: caller, server: server)
            let body: JSONObject
            switch command.execution {
            case .sync(let run):
                body = try await run(call).body
            case .async(let prepare):
                let plan = try await prepare(call)
                let jobID = try await server.jobs.submit(call: call, plan: plan)
                body = JSONObject(["id": plan.createdID.json, "jobid": .string(jobID.uuid)])
            }
            logger.debug("api request served")
            return Response(status: 200, body: JSONObject([responseKey: .object(body)]).serialized, errorDescription: nil)
        } catch let error as LunarError {
            logger.debug("api request refused", metadata: ["api.error.code": .string(String(error.code.rawValue))])
            return Self.errorResponse(error, key: responseKey)
        } catch {
            logger.error("api request failed", metadata: ["error.type": .string(String(describing: type(of: error))), "error": .string("\(error)")])
            return Self.errorResponse(LunarError(.internalError, "Internal error executing command, please contact your system administrator"), key: responseKey)
        }
    }

    /// CloudStack's `login`: username and password (domain `/` or `ROOT`, the only one) → a session
    /// key in the reply and in cookies, as CloudStack's UI gets it. Later calls carry the key as the
    /// `sessionkey` parameter instead of a signature. A wrong name or password is 531, told apart
    /// by nothing.
    func login(_ parameters: APIParameters, key: String) async throws -> Response {
        let username = parameters["username"] ?? ""
        let domain = parameters["domain"].map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "/")) } ?? ""
        guard !username.isEmpty, username.count <= 255, let password = parameters["password"], password.count <= 1024,
            domain.isEmpty || domain.uppercased() == Domain.root.name,
            let user = try await server.store.authenticate(username: username, password: password),
            user.state == .enabled, let account = try await server.store.account(user.accountID), account.state == .enabled
        else {
            throw LunarError(.accountError, csErrorCode: 4290, "Failed to authenticate user \(username.prefix(64)) in domain \(domain.isEmpty ? "/" : domain.prefix(64)); please provide valid credentials")
        }
        let session = try await server.store.createSession(for: user.id)
        let body = JSONObject([
            "username": user.username.json, "userid": user.id.uuid.json, "domainid": Domain.rootID.uuid.json, "account": account.name.json,
            "firstname": user.firstName.json, "lastname": user.lastName.json, "type": String(account.kind.rawValue).json,
            "timeout": String(Store.sessionTimeoutSeconds).json, "registered": "false", "sessionkey": session.json,
        ])
        let cookie = "; Path=/; HttpOnly; SameSite=Strict; Max-Age=\(Store.sessionTimeoutSeconds)"
        return Response(
            status: 200, body: JSONObject([key: .object(body)]).serialized, errorDescription: nil,
            cookies: ["sessionkey=\(session)" + cookie, "userid=\(user.id.uuid)" + cookie]
        )
    }

    static func errorResponse(_ error: LunarError, key: String) -> Response {
        let body = JSONObject([
            "uuidList": .array([]),
            "errorcode": .integer(Int64(error.code.rawValue)),
            "cserrorcode": .integer(Int64(error.csErrorCode)),
            "errortext": .string(error.text),
        ])
        return Response(status: error.code.rawValue, body: JSONObject([key: .object(body)]).serialized, errorDescription: error.text)
    }

    /// Checks required parameters and the form of every declared one. Unknown parameters are
    /// ignored, as CloudStack does.
    static func validate(_ parameters: APIParameters, against command: APICommand) throws {
        for declared in command.parameters {
            let value = parameters[declared.name]
            if declared.kind == .map {
                let present = parameters.values.keys.contains { $0.hasPrefix(declared.name + "[") }
                if declared.isRequired && !present { throw LunarError.missingParameter(declared.name, command: command.name) }
                continue
            }
            guard let value else {
                if declared.isRequired { throw LunarError.missingParameter(declared.name, command: command.name) }
                continue
            }
            if declared.isRequired && value.isEmpty {
                throw LunarError.missingParameter(declared.name, command: command.name)
            }
            guard value.count <= declared.length else {
                throw LunarError.invalidParameter(declared.name, value: String(value.prefix(32)) + "…", reason: "longer than \(declared.length) characters")
            }
            switch declared.kind {
            case .uuid:
                _ = try parameters.id(declared.name, as: Identifier<Void>.self)
            case .long:
                _ = try parameters.int64(declared.name)
            case .integer:
                _ = try parameters.int(declared.name)
            case .short:
                guard let number = try parameters.int(declared.name), Int16(exactly: number) != nil else {
                    throw LunarError.invalidParameter(declared.name, value: value, reason: "out of range")
                }
            case .boolean:
                _ = try parameters.bool(declared.name)
            case .date:
                guard CloudStackDate.parse(value) != nil || CloudStackDate.parse(value + "T00:00:00Z") != nil else {
                    throw LunarError.invalidParameter(declared.name, value: value, reason: "expected yyyy-MM-dd or yyyy-MM-ddTHH:mm:ssZ")
                }
            case .string, .list, .map:
                break
            }
        }
    }
}
