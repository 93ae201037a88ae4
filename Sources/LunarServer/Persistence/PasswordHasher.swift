import Crypto
import Foundation

/// Salted, iterated SHA-256 for account passwords (Lunar itself authenticates API calls by key;
/// passwords are kept only for CloudStack's `login`-style clients, never stored in clear).
enum PasswordHasher {
    static let iterations = 10_000

    static func hash(_ password: String, using generator: inout some RandomNumberGenerator) -> String {
        var salt = [UInt8](repeating: 0, count: 16)
        for index in salt.indices { salt[index] = UInt8.random(in: 0...255, using: &generator) }
        return "sha256i$\(iterations)$\(Data(salt).base64EncodedString())$\(Data(digest(password, salt: salt, iterations: iterations)).base64EncodedString())"
    }

    static func verify(_ password: String, against stored: String) -> Bool {
        let parts = stored.split(separator: "$").map(String.init)
        guard parts.count == 4, parts[0] == "sha256i", let rounds = Int(parts[1]), rounds > 0, rounds <= 1_000_000,
            let salt = Data(base64Encoded: parts[2]), let expected = Data(base64Encoded: parts[3])
        else { return false }
        return digest(password, salt: [UInt8](salt), iterations: rounds) == [UInt8](expected)
    }

    static func digest(_ password: String, salt: [UInt8], iterations: Int) -> [UInt8] {
        var state = [UInt8](SHA256.hash(data: salt + Array(password.utf8)))
        for _ in 1..<iterations { state = [UInt8](SHA256.hash(data: state + salt)) }
        return state
    }
}
