import LunarModel

/// `createAccount`, `listAccounts`, `deleteAccount`, `listUsers`, `registerUserKeys`, `getUserKeys`.
enum AccountCommands {
    static let all: [APICommand] = [login, logout, createAccount, listAccounts, deleteAccount, listUsers, registerUserKeys, getUserKeys]

    static let accountFields = [
        APIResponseField("id", "the id of the account"), APIResponseField("name", "the name of the account"),
        APIResponseField("accounttype", "integer", "0 user, 1 root admin"), APIResponseField("roletype", "the role"),
        APIResponseField("domainid", "the domain id"), APIResponseField("domain", "the domain name"),
        APIResponseField("state", "enabled, disabled or locked"), APIResponseField("created", "date", "creation time"),
        APIResponseField("user", "list", "the users of the account"),
    ]

    static let userFields = [
        APIResponseField("id", "the user id"), APIResponseField("username", "the user name"),
        APIResponseField("firstname", "first name"), APIResponseField("lastname", "last name"),
        APIResponseField("email", "email"), APIResponseField("account", "the account name"),
        APIResponseField("accountid", "the account id"), APIResponseField("accounttype", "integer", "the account type"),
        APIResponseField("state", "the user state"), APIResponseField("apikey", "the API key (never the secret)"),
        APIResponseField("created", "date", "creation time"),
    ]

    static let createAccount = APICommand(
        name: "createAccount",
        description: "Creates an account with its first user",
        access: .rootAdmin,
        parameters: [
            APIParameter("username", .string, required: true, "Unique user name"),
            APIParameter("password", .string, required: true, "Clear text password"),
            APIParameter("firstname", .string, required: true, "First name"),
            APIParameter("lastname", .string, required: true, "Last name"),
            APIParameter("email", .string, required: true, "Email"),
            APIParameter("account", .string, "Account name; the user name when absent"),
            APIParameter("accounttype", .short, "0 for a user, 1 for a root admin"),
            APIParameter("domainid", .uuid, "The domain (only ROOT exists)"),
        ],
        responseName: "account",
        responseFields: accountFields,
        execution: .sync { call in
            let p = call.parameters
            let username = try p.requiredString("username", command: call.command.name)
            let kindNumber = try p.int("accounttype") ?? 0
            guard let kind = Account.Kind(rawValue: kindNumber), kind != .domainAdmin else {
                throw LunarError.invalidParameter("accounttype", value: String(kindNumber), reason: "expected 0 (user) or 1 (root admin)")
            }
            if let domainID = try p.id("domainid", as: DomainID.self), domainID != Domain.rootID {
                throw LunarError.unknownID("domain", domainID.uuid, parameter: "domainid")
            }
            let password = try p.requiredString("password", command: call.command.name)
            guard password.count >= 1 else { throw LunarError.missingParameter("password", command: call.command.name) }
            let accountName = p["account"].flatMap { $0.isEmpty ? nil : $0 } ?? username
            let (account, user) = try await call.server.store.createAccount(
                NewAccount(
                    accountName: accountName, kind: kind, username: username, password: password,
                    firstName: try p.requiredString("firstname", command: call.command.name),
                    lastName: try p.requiredString("lastname", command: call.command.name),
                    email: try p.requiredString("email", command: call.command.name)
                )
            )
            return .object(name: "account", account.response(users: [user]))
        }
    )

    static let listAccounts = APICommand(
        name: "listAccounts",
        description: "Lists accounts; a user sees only its own",
        access: .anyUser,
        parameters: [
            APIParameter("id", .uuid, "List by id"), APIParameter("name", .string, "List by name"),
            APIParameter("domainid", .uuid, "The domain"),
        ] + APIParameter.listing,
        responseName: "account",
        responseFields: accountFields,
        execution: .sync { call in
            let p = call.parameters
            var id = try p.id("id", as: AccountID.self)
            if !call.caller.isRootAdmin {
                if let id, id != call.caller.account.id { return .list(name: "account", items: [], total: 0) }
                id = call.caller.account.id
            }
            let store = call.server.store
            let page = try await store.accounts(id: id, name: p["name"], keyword: p["keyword"], window: try p.window())
            var items: [JSONObject] = []
            for account in page.items {
                let users = try await store.users(accountID: account.id, id: nil, username: nil, keyword: nil, window: .all).items
                items.append(account.response(users: users))
            }
            return .list(name: "account", items: items, total: page.total)
        }
    )

    static let deleteAccount = APICommand(
        name: "deleteAccount",
        description: "Deletes an account and its users (async)",
        access: .rootAdmin,
        parameters: [APIParameter("id", .uuid, required: true, "The account to delete")],
        responseFields: [APIResponseField("success", "boolean", "true when done")],
        execution: .async { call in
            let id = try call.parameters.requiredID("id", command: call.command.name, as: AccountID.self)
            guard try await call.server.store.account(id) != nil else { throw LunarError.unknownID("account", id.uuid) }
            guard id != call.caller.account.id else { throw LunarError.refused("An account cannot delete itself") }
            return JobPlan(instanceType: "Account", instanceID: id.uuid) { context in
                try await removeAccount(id, store: call.server.store, context: context)
            }
        },
        resume: { call, context in
            // Deleting is idempotent: finishing a half-done delete is deleting again.
            let id = try call.parameters.requiredID("id", command: call.command.name, as: AccountID.self)
            return try await removeAccount(id, store: call.server.store, context: context)
        }
    )

    static func removeAccount(_ id: AccountID, store: Store, context: JobContext) async throws -> JSONObject {
        _ = try await context.step("delete account", detail: id.uuid) {
            try await store.deleteAccount(id)
        }
        return JSONObject(["success": true])
    }

    static let listUsers = APICommand(
        name: "listUsers",
        description: "Lists users; a user sees only those of its own account",
        access: .anyUser,
        parameters: [
            APIParameter("id", .uuid, "List by user id"), APIParameter("username", .string, "List by user name"),
            APIParameter("accountid", .uuid, "List the users of an account"), APIParameter("account", .string, "Account name"),
        ] + APIParameter.listing,
        responseName: "user",
        responseFields: userFields,
        execution: .sync { call in
            let p = call.parameters
            let store = call.server.store
            var accountID = try p.id("accountid", as: AccountID.self)
            if let name = p["account"] {
                guard let account = try await store.accounts(id: nil, name: name, keyword: nil, window: .all).items.first else {
                    return .list(name: "user", items: [], total: 0)
                }
                if let accountID, accountID != account.id { return .list(name: "user", items: [], total: 0) }
                accountID = account.id
            }
            if !call.caller.isRootAdmin {
                if let accountID, accountID != call.caller.account.id { return .list(name: "user", items: [], total: 0) }
                accountID = call.caller.account.id
            }
            let page = try await store.users(
                accountID: accountID, id: try p.id("id", as: UserID.self), username: p["username"], keyword: p["keyword"], window: try p.window()
            )
            var accounts: [AccountID: Account] = [:]
            var items: [JSONObject] = []
            for user in page.items {
                if accounts[user.accountID] == nil { accounts[user.accountID] = try await store.account(user.accountID) }
                guard let account = accounts[user.accountID] else { continue }
                items.append(user.response(account: account))
            }
            return .list(name: "user", items: items, total: page.total)
        }
    )

    /// The user named by `id`, if the caller may manage its keys (itself, or any user for an admin).
    static func userForKeys(_ call: APICall) async throws -> User {
        let id = try call.parameters.requiredID("id", command: call.command.name, as: UserID.self)
        guard let user = try await call.server.store.user(id), call.caller.owns(user.accountID),
            call.caller.isRootAdmin || user.id == call.caller.user.id
        else { throw LunarError.unknownID("user", id.uuid) }
        return user
    }

    static let registerUserKeys = APICommand(
        name: "registerUserKeys",
        description: "Generates a new API key and secret key for a user, replacing the old pair",
        access: .anyUser,
        parameters: [APIParameter("id", .uuid, required: true, "The user")],
        responseName: "userkeys",
        responseFields: [APIResponseField("apikey", "the API key"), APIResponseField("secretkey", "the secret key")],
        execution: .sync { call in
            let user = try await userForKeys(call)
            let store = call.server.store
            let old = try await store.keys(for: user.id)
            var generator = SystemRandomNumberGenerator()
            let keys = UserKeys.generate(using: &generator)
            try await store.setKeys(keys, for: user.id)
            if let old { await call.server.rootKeysChanged(old, keys) }
            return .object(name: "userkeys", keys.response)
        }
    )

    static let getUserKeys = APICommand(
        name: "getUserKeys",
        description: "Returns a user's API key and secret key (to the user itself or an admin)",
        access: .anyUser,
        parameters: [APIParameter("id", .uuid, required: true, "The user")],
        responseName: "userkeys",
        responseFields: [APIResponseField("apikey", "the API key"), APIResponseField("secretkey", "the secret key")],
        execution: .sync { call in
            let user = try await userForKeys(call)
            guard let keys = try await call.server.store.keys(for: user.id) else {
                return .object(name: "userkeys", JSONObject())
            }
            return .object(name: "userkeys", keys.response)
        }
    )

    /// CloudStack's `logout`: ends the session whose key the call carries (`login` itself is
    /// answered by the dispatcher, before any credentials). Keys and signatures have no session.
    static let logout = APICommand(
        name: "logout",
        description: "Ends the session of a signed-in caller (login starts one)",
        access: .anyUser,
        parameters: [APIParameter("sessionkey", .string, "The session (sent by signed-in pages)")],
        responseName: "logout",
        responseFields: [APIResponseField("description", "success")],
        execution: .sync { call in
            if let session = call.parameters["sessionkey"] { try await call.server.store.endSession(session) }
            return .fields(JSONObject(["description": "success"]))
        }
    )

    /// Declared for `listApis` and parameter checks; the dispatcher answers it before any
    /// credentials are asked for (`APIDispatcher.login`).
    static let login = APICommand(
        name: "login",
        description: "Signs a user in with username and password; answers a session key (also set as a cookie) that later calls send as sessionkey",
        access: .anyUser,
        parameters: [
            APIParameter("username", .string, required: true, "The user"), APIParameter("password", .string, required: true, "The password"),
            APIParameter("domain", .string, "The domain path (/ or ROOT, the only domain)"), APIParameter("domainid", .string, "Ignored"),
        ],
        responseName: "login",
        responseFields: [
            APIResponseField("sessionkey", "the session, sent as sessionkey by later calls"), APIResponseField("userid", "the user"),
            APIResponseField("username", "the user's name"), APIResponseField("account", "its account"), APIResponseField("timeout", "seconds of idleness a session lasts"),
        ],
        execution: .sync { _ in throw LunarError(.internalError, "login is answered before authentication") }
    )
}
