import Crypto

/// What a target needs to authenticate an initiator with CHAP (RFC 1994 with MD5, as RFC 7143
/// §12.1.3 uses it), and to answer it back for mutual CHAP.
public struct ISCSICHAPCredentials: Sendable, Hashable {
    /// The name the initiator must send as CHAP_N.
    public var user: String
    public var initiatorSecret: [UInt8]
    /// The name and secret the target answers with when the initiator asks for mutual CHAP;
    /// nil refuses mutual CHAP.
    public var targetUser: String?
    public var targetSecret: [UInt8]?

    public init(user: String, initiatorSecret: [UInt8], targetUser: String? = nil, targetSecret: [UInt8]? = nil) {
        self.user = user
        self.initiatorSecret = initiatorSecret
        self.targetUser = targetUser
        self.targetSecret = targetSecret
    }

    /// Secrets never reach logs through string interpolation.
    public var description: String { "CHAP(\(user))" }
}

/// CHAP's arithmetic and value encodings.
public enum ISCSICHAP {
    /// The CHAP_A value for MD5, the only algorithm iSCSI requires.
    public static let md5Algorithm = "5"
    /// Challenges at most this long are accepted from an initiator (mutual CHAP).
    public static let maximumChallengeBytes = 1024

    /// RFC 1994: MD5(identifier || secret || challenge).
    public static func response(identifier: UInt8, secret: [UInt8], challenge: [UInt8]) -> [UInt8] {
        var md5 = Insecure.MD5()
        md5.update(data: [identifier])
        md5.update(data: secret)
        md5.update(data: challenge)
        return Array(md5.finalize())
    }

    /// `0x` + lower-case hex, the encoding the target sends.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = Array("0x".utf8)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// A binary value as RFC 7143 §6.1 writes it: `0x` hex or `0b` base64; nil if malformed.
    public static func decodeBinary(_ text: String) -> [UInt8]? {
        let lower = text.lowercased()
        if lower.hasPrefix("0x") {
            let digits = Array(lower.utf8.dropFirst(2))
            guard !digits.isEmpty, digits.count % 2 == 0 else { return nil }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(digits.count / 2)
            var index = 0
            while index < digits.count {
                guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { return nil }
                bytes.append(high << 4 | low)
                index += 2
            }
            return bytes
        }
        if lower.hasPrefix("0b") {
            return base64Decode(String(text.dropFirst(2)))
        }
        return nil
    }

    static func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        default: nil
        }
    }

    static func base64Decode(_ text: String) -> [UInt8]? {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var values = [UInt8](repeating: 0xFF, count: 256)
        for (index, character) in alphabet.enumerated() { values[Int(character)] = UInt8(index) }
        var bytes: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for character in text.utf8 {
            if character == UInt8(ascii: "=") { break }
            let value = values[Int(character)]
            guard value != 0xFF else { return nil }
            buffer = buffer << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                bytes.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
            }
        }
        return bytes.isEmpty ? nil : bytes
    }

    /// Compares in time that does not depend on where the bytes differ.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
