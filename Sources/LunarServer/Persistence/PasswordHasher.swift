import Crypto
import Foundation
import _CryptoExtras

/// Account passwords, never stored in clear: PBKDF2-HMAC-SHA256 (swift-crypto's extras, BoringSSL
/// underneath) with a random 16-byte salt, compared in constant time. Hashes from before (salted,
/// iterated SHA-256, `sha256i$…`) still verify and are reported for upgrade, so the next
/// successful sign-in stores the new form.
enum PasswordHasher {
    /// OWASP's figure for PBKDF2-HMAC-SHA256 (2021); a stored hash names its own rounds.
    static let rounds = 310_000
    static let scheme = "pbkdf2-sha256"

    struct Verdict: Equatable {
        var matches: Bool
        /// The stored hash is of an older scheme or weaker rounds: store `hash(password)` anew.
        var needsUpgrade: Bool
    }

    static func hash(_ password: String, using generator: inout some RandomNumberGenerator) -> String {
        var salt = [UInt8](repeating: 0, count: 16)
        for index in salt.indices { salt[index] = UInt8.random(in: 0...255, using: &generator) }
        let derived = pbkdf2(password, salt: salt, rounds: rounds)
        return "\(scheme)$\(rounds)$\(Data(salt).base64EncodedString())$\(Data(derived).base64EncodedString())"
    }

    static func verify(_ password: String, against stored: String) -> Verdict {
        let parts = stored.split(separator: "$").map(String.init)
        guard parts.count == 4, let storedRounds = Int(parts[1]), storedRounds > 0, storedRounds <= 10_000_000,
            let salt = Data(base64Encoded: parts[2]), let expected = Data(base64Encoded: parts[3])
        else { return Verdict(matches: false, needsUpgrade: false) }
        switch parts[0] {
        case scheme:
            let matches = constantTimeEqual(pbkdf2(password, salt: [UInt8](salt), rounds: storedRounds), [UInt8](expected))
            return Verdict(matches: matches, needsUpgrade: matches && storedRounds < rounds)
        case "sha256i" where storedRounds <= 1_000_000:
            let matches = constantTimeEqual(legacyDigest(password, salt: [UInt8](salt), iterations: storedRounds), [UInt8](expected))
            return Verdict(matches: matches, needsUpgrade: matches)
        default:
            return Verdict(matches: false, needsUpgrade: false)
        }
    }

    static func pbkdf2(_ password: String, salt: [UInt8], rounds: Int) -> [UInt8] {
        do {
            // The rounds come from `rounds` or from a stored hash of ours (weaker ones are upgraded).
            let key = try KDF.Insecure.PBKDF2.deriveKey(from: Array(password.utf8), salt: salt, using: .sha256, outputByteCount: 32, unsafeUncheckedRounds: rounds)
            return key.withUnsafeBytes { [UInt8]($0) }
        } catch {
            // BoringSSL refused the parameters: match nothing.
            return []
        }
    }

    /// Time independent of where the first difference is.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count, !a.isEmpty else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    /// The scheme before PBKDF2: kept only to verify (and then upgrade) old hashes.
    static func legacyDigest(_ password: String, salt: [UInt8], iterations: Int) -> [UInt8] {
        var state = [UInt8](SHA256.hash(data: salt + Array(password.utf8)))
        for _ in 1..<max(1, iterations) { state = [UInt8](SHA256.hash(data: state + salt)) }
        return state
    }
}
