/// A user of an account. The API key identifies the user; the secret key signs requests and is
/// never logged or listed.
public struct User: Sendable, Hashable {
    public var id: UserID
    public var accountID: AccountID
    public var username: String
    public var firstName: String
    public var lastName: String
    public var email: String?
    public var state: Account.State
    public var apiKey: String?
    public var createdEpochSeconds: Int64

    public init(
        id: UserID, accountID: AccountID, username: String, firstName: String, lastName: String, email: String?,
        state: Account.State, apiKey: String?, createdEpochSeconds: Int64
    ) {
        self.id = id
        self.accountID = accountID
        self.username = username
        self.firstName = firstName
        self.lastName = lastName
        self.email = email
        self.state = state
        self.apiKey = apiKey
        self.createdEpochSeconds = createdEpochSeconds
    }
}

/// A user's key pair, as `registerUserKeys`/`getUserKeys` return it.
public struct UserKeys: Sendable, Hashable, Codable {
    public var apiKey: String
    public var secretKey: String

    public init(apiKey: String, secretKey: String) {
        self.apiKey = apiKey
        self.secretKey = secretKey
    }

    enum CodingKeys: String, CodingKey {
        case apiKey = "apikey"
        case secretKey = "secretkey"
    }

    /// A fresh pair in CloudStack's shape: 64 random bytes each, Base64url without padding (86 characters).
    public static func generate(using generator: inout some RandomNumberGenerator) -> UserKeys {
        func key() -> String {
            var bytes = [UInt8](repeating: 0, count: 64)
            for index in bytes.indices { bytes[index] = UInt8.random(in: 0...255, using: &generator) }
            return Base64URL.encode(bytes)
        }
        return UserKeys(apiKey: key(), secretKey: key())
    }
}

/// Base64url without padding.
public enum Base64URL {
    public static func encode(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var output = [UInt8]()
        output.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index + 3 <= bytes.count {
            let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            for shift in stride(from: 18, through: 0, by: -6) { output.append(alphabet[Int(chunk >> UInt32(shift) & 63)]) }
            index += 3
        }
        let remaining = bytes.count - index
        if remaining == 1 {
            let chunk = UInt32(bytes[index]) << 16
            output.append(alphabet[Int(chunk >> 18 & 63)])
            output.append(alphabet[Int(chunk >> 12 & 63)])
        } else if remaining == 2 {
            let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            output.append(alphabet[Int(chunk >> 18 & 63)])
            output.append(alphabet[Int(chunk >> 12 & 63)])
            output.append(alphabet[Int(chunk >> 6 & 63)])
        }
        return String(decoding: output, as: UTF8.self)
    }
}
