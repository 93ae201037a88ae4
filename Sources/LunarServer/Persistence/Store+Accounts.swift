import Foundation
import LunarModel
import SQLKit

/// What `createAccount` asks for.
public struct NewAccount: Sendable {
    public var accountName: String
    public var kind: Account.Kind
    public var username: String
    public var password: String
    public var firstName: String
    public var lastName: String
    public var email: String?

    public init(accountName: String, kind: Account.Kind, username: String, password: String, firstName: String, lastName: String, email: String?) {
        self.accountName = accountName
        self.kind = kind
        self.username = username
        self.password = password
        self.firstName = firstName
        self.lastName = lastName
        self.email = email
    }
}

/// A user found by API key, with what request verification needs.
public struct Credentials: Sendable {
    public var user: User
    public var account: Account
    public var secretKey: String
}

extension Store {
    /// Creates the ROOT domain and the root admin account on first start.
    /// - Returns: the root admin's keys, and whether they were made now.
    public func bootstrapRootAdmin(username: String = "admin", password: String) async throws -> (keys: UserKeys, created: Bool) {
        try await database.write { sql in
            let existing = try await sql.raw(
                """
                SELECT users.api_key, users.secret_key FROM users JOIN accounts ON accounts.id = users.account_id
                WHERE accounts.type = 1 AND users.api_key IS NOT NULL ORDER BY users.created, users.id LIMIT 1
                """
            ).first()
            if let existing {
                return (
                    UserKeys(
                        apiKey: try existing.decode(column: "api_key", as: String.self),
                        secretKey: try existing.decode(column: "secret_key", as: String.self)
                    ), false
                )
            }
            let created = now
            try await sql.raw(
                """
                INSERT INTO domains (id, name, path, created) VALUES
                (\(bind: Domain.rootID.uuid), \(bind: Domain.root.name), \(bind: Domain.root.path), \(bind: created))
                ON CONFLICT (id) DO NOTHING
                """
            ).run()
            var generator = SystemRandomNumberGenerator()
            let keys = UserKeys.generate(using: &generator)
            let (_, user) = try await insertAccount(
                sql,
                NewAccount(accountName: "admin", kind: .rootAdmin, username: username, password: password, firstName: "Admin", lastName: "User", email: nil)
            )
            try await sql.raw(
                "UPDATE users SET api_key = \(bind: keys.apiKey), secret_key = \(bind: keys.secretKey) WHERE id = \(bind: user.id.uuid)"
            ).run()
            return (keys, true)
        }
    }

    /// Creates an account with its first user.
    public func createAccount(_ new: NewAccount) async throws -> (Account, User) {
        try await database.write { sql in try await insertAccount(sql, new) }
    }

    private func insertAccount(_ sql: any SQLDatabase, _ new: NewAccount) async throws -> (Account, User) {
        if try await sql.raw("SELECT 1 FROM accounts WHERE name = \(bind: new.accountName) AND domain_id = \(bind: Domain.rootID.uuid)").first() != nil {
            throw LunarError.refused("An account with name \(new.accountName) already exists in domain ROOT")
        }
        if try await sql.raw("SELECT 1 FROM users WHERE username = \(bind: new.username)").first() != nil {
            throw LunarError.refused("The user \(new.username) already exists")
        }
        let created = now
        let account = Account(id: .random(), name: new.accountName, domainID: Domain.rootID, kind: new.kind, state: .enabled, createdEpochSeconds: created)
        let user = User(
            id: .random(), accountID: account.id, username: new.username, firstName: new.firstName, lastName: new.lastName,
            email: new.email, state: .enabled, apiKey: nil, createdEpochSeconds: created
        )
        var generator = SystemRandomNumberGenerator()
        let passwordHash = PasswordHasher.hash(new.password, using: &generator)
        try await sql.raw(
            """
            INSERT INTO accounts (id, name, domain_id, type, state, created) VALUES
            (\(bind: account.id.uuid), \(bind: account.name), \(bind: account.domainID.uuid), \(bind: account.kind.rawValue),
             \(bind: account.state.rawValue), \(bind: created))
            """
        ).run()
        try await sql.raw(
            """
            INSERT INTO users (id, account_id, username, password_hash, firstname, lastname, email, state, created) VALUES
            (\(bind: user.id.uuid), \(bind: account.id.uuid), \(bind: user.username), \(bind: passwordHash),
             \(bind: user.firstName), \(bind: user.lastName), \(bind: user.email), \(bind: user.state.rawValue), \(bind: created))
            """
        ).run()
        return (account, user)
    }

    public func account(_ id: AccountID) async throws -> Account? {
        try await database.read { sql in
            try await sql.raw("SELECT * FROM accounts WHERE id = \(bind: id.uuid)").first().map(Self.account(from:))
        }
    }

    /// Accounts, optionally only one, by name, or matching a keyword.
    public func accounts(id: AccountID?, name: String?, keyword: String?, window: ListWindow) async throws -> Page<Account> {
        try await database.read { sql in
            try await page(sql, table: "accounts", window: window) { query in
                var query = query.filter("id", equals: id?.uuid).filter("name", equals: name)
                if let keyword { query = query.where(SQLColumn("name"), .like, SQLBind(Self.like(keyword))) }
                return query
            } map: { try Self.account(from: $0) }
        }
    }

    /// Deletes an account and, through the schema's cascades, its users and jobs.
    /// - Returns: false when no such account existed (deletion is idempotent for resumed jobs).
    @discardableResult
    public func deleteAccount(_ id: AccountID) async throws -> Bool {
        try await database.write { sql in
            guard let row = try await sql.raw("SELECT * FROM accounts WHERE id = \(bind: id.uuid)").first() else { return false }
            let account = try Self.account(from: row)
            if account.isRootAdmin {
                let admins = try await sql.raw("SELECT COUNT(*) AS n FROM accounts WHERE type = 1").first()
                if try admins?.decode(column: "n", as: Int.self) ?? 0 <= 1 {
                    throw LunarError.refused("The last root admin account cannot be deleted")
                }
            }
            let volumes = try await count(sql, "SELECT COUNT(*) AS n FROM volumes WHERE account_id = \(bind: id.uuid) AND state <> 'Expunged'")
            if volumes > 0 {
                throw LunarError.refused("Account \(account.name) still owns \(volumes) volume(s); delete them first")
            }
            // Expunged volumes are history; they go with the account.
            try await sql.raw("DELETE FROM volumes WHERE account_id = \(bind: id.uuid)").run()
            try await sql.raw("DELETE FROM accounts WHERE id = \(bind: id.uuid)").run()
            return true
        }
    }

    public func user(_ id: UserID) async throws -> User? {
        try await database.read { sql in
            try await sql.raw("SELECT * FROM users WHERE id = \(bind: id.uuid)").first().map(Self.user(from:))
        }
    }

    /// Users, optionally of one account, by id, by name, or matching a keyword.
    public func users(accountID: AccountID?, id: UserID?, username: String?, keyword: String?, window: ListWindow) async throws -> Page<User> {
        try await database.read { sql in
            try await page(sql, table: "users", window: window) { query in
                var query = query.filter("account_id", equals: accountID?.uuid).filter("id", equals: id?.uuid)
                    .filter("username", equals: username)
                if let keyword { query = query.where(SQLColumn("username"), .like, SQLBind(Self.like(keyword))) }
                return query
            } map: { try Self.user(from: $0) }
        }
    }

    /// The user holding an API key, with its account and secret, for request verification.
    public func credentials(apiKey: String) async throws -> Credentials? {
        try await database.read { sql in
            guard let row = try await sql.raw("SELECT * FROM users WHERE api_key = \(bind: apiKey)").first() else { return nil }
            let user = try Self.user(from: row)
            guard let accountRow = try await sql.raw("SELECT * FROM accounts WHERE id = \(bind: user.accountID.uuid)").first() else {
                return nil
            }
            return Credentials(user: user, account: try Self.account(from: accountRow), secretKey: try row.decode(column: "secret_key", as: String.self))
        }
    }

    /// The user whose name and password these are (nil for a wrong name or password, told apart
    /// by nothing). A hash of an older scheme that matches is replaced by today's, so old hashes
    /// are upgraded at the next sign-in.
    public func authenticate(username: String, password: String) async throws -> User? {
        let found: (User, String)? = try await database.read { sql in
            guard let row = try await sql.raw("SELECT * FROM users WHERE username = \(bind: username)").first() else { return nil }
            return (try Self.user(from: row), try row.decode(column: "password_hash", as: String.self))
        }
        // A missing user costs the same work as a wrong password.
        let verdict = PasswordHasher.verify(password, against: found?.1 ?? Self.decoyHash)
        guard let (user, stored) = found, verdict.matches else { return nil }
        if verdict.needsUpgrade {
            var generator = SystemRandomNumberGenerator()
            let upgraded = PasswordHasher.hash(password, using: &generator)
            try await database.write { sql in
                try await sql.raw("UPDATE users SET password_hash = \(bind: upgraded) WHERE id = \(bind: user.id.uuid) AND password_hash = \(bind: stored)").run()
            }
        }
        return user
    }

    static let decoyHash: String = {
        var generator = SystemRandomNumberGenerator()
        return PasswordHasher.hash(UUID().uuidString, using: &generator)
    }()

    /// The root admin's first user, on whose behalf the server runs jobs of its own (HA restarts).
    public func rootAdministrator() async throws -> Caller? {
        try await database.read { sql in
            guard let row = try await sql.raw(
                "SELECT users.* FROM users JOIN accounts ON accounts.id = users.account_id WHERE accounts.type = 1 ORDER BY users.created, users.id LIMIT 1"
            ).first() else { return nil }
            let user = try Self.user(from: row)
            guard let account = try await sql.raw("SELECT * FROM accounts WHERE id = \(bind: user.accountID.uuid)").first() else { return nil }
            return Caller(user: user, account: try Self.account(from: account))
        }
    }

    /// Replaces a user's key pair.
    public func setKeys(_ keys: UserKeys, for userID: UserID) async throws {
        try await database.write { sql in
            guard try await sql.raw("SELECT 1 FROM users WHERE id = \(bind: userID.uuid)").first() != nil else {
                throw LunarError.unknownID("user", userID.uuid)
            }
            try await sql.raw(
                "UPDATE users SET api_key = \(bind: keys.apiKey), secret_key = \(bind: keys.secretKey) WHERE id = \(bind: userID.uuid)"
            ).run()
        }
    }

    /// A user's key pair, if it has one.
    public func keys(for userID: UserID) async throws -> UserKeys? {
        try await database.read { sql in
            guard let row = try await sql.raw("SELECT api_key, secret_key FROM users WHERE id = \(bind: userID.uuid)").first(),
                let apiKey = try row.decode(column: "api_key", as: String?.self),
                let secretKey = try row.decode(column: "secret_key", as: String?.self)
            else { return nil }
            return UserKeys(apiKey: apiKey, secretKey: secretKey)
        }
    }

    static func account(from row: any SQLRow) throws -> Account {
        Account(
            id: AccountID(trusted: try row.decode(column: "id", as: String.self)),
            name: try row.decode(column: "name", as: String.self),
            domainID: DomainID(trusted: try row.decode(column: "domain_id", as: String.self)),
            kind: try decodeEnum(row, "type", as: Account.Kind.self),
            state: try decodeEnum(row, "state", as: Account.State.self),
            createdEpochSeconds: try row.decode(column: "created", as: Int64.self)
        )
    }

    static func user(from row: any SQLRow) throws -> User {
        User(
            id: UserID(trusted: try row.decode(column: "id", as: String.self)),
            accountID: AccountID(trusted: try row.decode(column: "account_id", as: String.self)),
            username: try row.decode(column: "username", as: String.self),
            firstName: try row.decode(column: "firstname", as: String.self),
            lastName: try row.decode(column: "lastname", as: String.self),
            email: try row.decode(column: "email", as: String?.self),
            state: try decodeEnum(row, "state", as: Account.State.self),
            apiKey: try row.decode(column: "api_key", as: String?.self),
            createdEpochSeconds: try row.decode(column: "created", as: Int64.self)
        )
    }
}
