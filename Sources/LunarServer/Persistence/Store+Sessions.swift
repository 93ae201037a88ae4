import Crypto
import Foundation
import LunarModel
import SQLKit

extension Store {
    /// How long a session lives without use (CloudStack's `session.timeout` default); each use
    /// extends it by as much again.
    public static let sessionTimeoutSeconds: Int64 = 1_800

    /// Starts a session for `user` and returns its key (random, 32 bytes, base64url). Only the
    /// key's SHA-256 is stored.
    public func createSession(for user: UserID) async throws -> String {
        var generator = SystemRandomNumberGenerator()
        let key = Base64URL.encode((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
        let now = time.nowEpochSeconds()
        try await database.write { sql in
            // Expired sessions go as new ones come, so the table stays bounded by live sessions.
            try await sql.raw("DELETE FROM sessions WHERE expires < \(bind: now)").run()
            try await sql.raw(
                "INSERT INTO sessions (key_hash, user_id, created, expires) VALUES (\(bind: Self.sessionHash(key)), \(bind: user.uuid), \(bind: now), \(bind: now + Self.sessionTimeoutSeconds))"
            ).run()
        }
        return key
    }

    /// The caller a live session key belongs to (its expiry pushed back), or nil.
    public func sessionCaller(_ key: String) async throws -> Caller? {
        guard !key.isEmpty, key.count <= 128 else { return nil }
        let now = time.nowEpochSeconds()
        return try await database.write { sql in
            let hash = Self.sessionHash(key)
            guard let row = try await sql.raw("SELECT user_id, expires FROM sessions WHERE key_hash = \(bind: hash)").first(),
                try row.decode(column: "expires", as: Int64.self) >= now
            else { return nil }
            try await sql.raw("UPDATE sessions SET expires = \(bind: now + Self.sessionTimeoutSeconds) WHERE key_hash = \(bind: hash)").run()
            let userID = try row.decode(column: "user_id", as: String.self)
            guard let userRow = try await sql.raw("SELECT * FROM users WHERE id = \(bind: userID)").first() else { return nil }
            let user = try Self.user(from: userRow)
            guard let accountRow = try await sql.raw("SELECT * FROM accounts WHERE id = \(bind: user.accountID.uuid)").first() else { return nil }
            return Caller(user: user, account: try Self.account(from: accountRow))
        }
    }

    /// Ends a session (a key that is not live is fine: logged out already).
    public func endSession(_ key: String) async throws {
        try await database.write { sql in try await sql.raw("DELETE FROM sessions WHERE key_hash = \(bind: Self.sessionHash(key))").run() }
    }

    static func sessionHash(_ key: String) -> String {
        SHA256.hash(data: Data(key.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
