/// A SAN account as list and show calls return it: never its secrets.
public struct SANAccountInfo: Codable, Sendable, Hashable {
    /// Also the CHAP user name.
    public var name: String
    public var volumes: [String]
    /// ISO 8601.
    public var created: String

    public init(name: String, volumes: [String], created: String) {
        self.name = name
        self.volumes = volumes
        self.created = created
    }
}

/// An account's CHAP secrets: returned by create and by the explicit secrets call only.
public struct SANAccountSecrets: Codable, Sendable, Hashable {
    public var name: String
    /// What the initiator proves it knows (CHAP).
    public var initiatorSecret: String
    /// What the target proves it knows when the initiator asks (mutual CHAP).
    public var targetSecret: String

    public init(name: String, initiatorSecret: String, targetSecret: String) {
        self.name = name
        self.initiatorSecret = initiatorSecret
        self.targetSecret = targetSecret
    }

    enum CodingKeys: String, CodingKey {
        case name
        case initiatorSecret = "initiator_secret"
        case targetSecret = "target_secret"
    }

    /// RFC 7143 §12.1.3 wants at least 12 bytes of secret for CHAP; initiators cap at 16.
    public static let lengths = 12...16

    public static func problem(_ secret: String) -> String? {
        guard lengths.contains(secret.utf8.count) else { return "CHAP secrets are 12 to 16 characters" }
        guard secret.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7F }) else {
            return "CHAP secrets are printable ASCII without spaces"
        }
        return nil
    }
}
