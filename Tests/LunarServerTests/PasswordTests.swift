import Foundation
import LunarModel
@testable import LunarServer
import SQLKit
import Testing

/// Passwords: PBKDF2 with its rounds in the stored hash, constant-time comparison, and the old
/// iterated-SHA-256 hashes upgraded at the next successful sign-in.
struct PasswordTests {
    @Test func hashesVerifyAndWrongPasswordsDoNot() {
        var generator = SplitMix64(state: 3)
        let stored = PasswordHasher.hash("s3cret", using: &generator)
        #expect(stored.hasPrefix("pbkdf2-sha256$\(PasswordHasher.rounds)$"))
        #expect(PasswordHasher.verify("s3cret", against: stored) == .init(matches: true, needsUpgrade: false))
        #expect(PasswordHasher.verify("s3creT", against: stored).matches == false)
        #expect(PasswordHasher.verify("s3cret", against: "garbage").matches == false)
        #expect(PasswordHasher.verify("s3cret", against: "pbkdf2-sha256$0$AAAA$AAAA").matches == false)
        // RFC 7914 §11's PBKDF2-HMAC-SHA256 vector: P="passwd", S="salt", c=1, dkLen=64 (its first 32 bytes).
        let vector = PasswordHasher.pbkdf2("passwd", salt: Array("salt".utf8), rounds: 1)
        #expect(vector.map { String(format: "%02x", $0) }.joined() == "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc")
        #expect(!PasswordHasher.constantTimeEqual([1, 2], [1, 3]) && PasswordHasher.constantTimeEqual([1, 2], [1, 2]))
    }

    @Test func anOldHashIsUpgradedAtTheNextSignIn() async throws {
        let database = try await Database.openSQLite(path: nil, logger: TestSupport.quietLogger)
        let store = Store(database: database, time: SystemTimeSource())
        _ = try await store.bootstrapRootAdmin(username: "admin", password: "first")
        // Store a hash of the old scheme, as a database from an older Lunar holds.
        let salt = [UInt8](repeating: 7, count: 16)
        let old = "sha256i$10000$\(Data(salt).base64EncodedString())$\(Data(PasswordHasher.legacyDigest("old-pass", salt: salt, iterations: 10_000)).base64EncodedString())"
        try await database.write { sql in try await sql.raw("UPDATE users SET password_hash = \(bind: old) WHERE username = 'admin'").run() }

        #expect(try await store.authenticate(username: "admin", password: "wrong") == nil)
        #expect(try await store.authenticate(username: "nobody", password: "old-pass") == nil)
        #expect(try await store.authenticate(username: "admin", password: "old-pass")?.username == "admin")
        let upgraded = try await database.read { sql in
            try await sql.raw("SELECT password_hash FROM users WHERE username = 'admin'").first()!.decode(column: "password_hash", as: String.self)
        }
        #expect(upgraded.hasPrefix("pbkdf2-sha256$"))
        #expect(try await store.authenticate(username: "admin", password: "old-pass")?.username == "admin")
        await database.close()
    }
}
