import Crypto
import Foundation
import LunarModel

/// A template's `checksum` as CloudStack takes it: `{ALGORITHM}hex` (`{MD5}`, `{SHA-1}`,
/// `{SHA-256}`, `{SHA-512}`) or bare hex, whose length names the algorithm (32: MD5, as older
/// CloudStack assumed; 40, 64, 128: the SHAs). Checked while the image downloads.
struct TemplateChecksum: Sendable, Hashable {
    enum Algorithm: String, Sendable, CaseIterable {
        case md5 = "MD5"
        case sha1 = "SHA-1"
        case sha256 = "SHA-256"
        case sha512 = "SHA-512"

        var hexLength: Int {
            switch self {
            case .md5: 32
            case .sha1: 40
            case .sha256: 64
            case .sha512: 128
            }
        }
    }

    var algorithm: Algorithm
    var hex: String

    /// - Throws: a 431 naming what is wrong.
    init(parsing text: String) throws {
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        var named: Algorithm?
        if rest.hasPrefix("{"), let close = rest.firstIndex(of: "}") {
            let name = rest[rest.index(after: rest.startIndex)..<close].uppercased()
            guard let algorithm = Algorithm.allCases.first(where: { $0.rawValue == name || $0.rawValue.replacingOccurrences(of: "-", with: "") == name }) else {
                throw LunarError.invalidParameter("checksum", value: text, reason: "the algorithm is one of {MD5}, {SHA-1}, {SHA-256}, {SHA-512}")
            }
            named = algorithm
            rest = rest[rest.index(after: close)...]
        }
        let hex = rest.lowercased()
        guard !hex.isEmpty, hex.allSatisfy(\.isHexDigit) else { throw LunarError.invalidParameter("checksum", value: text, reason: "the digest is hexadecimal") }
        guard let algorithm = named ?? Algorithm.allCases.first(where: { $0.hexLength == hex.count }) else {
            throw LunarError.invalidParameter("checksum", value: text, reason: "a bare digest is 32 (MD5), 40, 64 or 128 hex digits long")
        }
        guard hex.count == algorithm.hexLength else {
            throw LunarError.invalidParameter("checksum", value: text, reason: "a \(algorithm.rawValue) digest is \(algorithm.hexLength) hex digits")
        }
        self.algorithm = algorithm
        self.hex = hex
    }

    /// The running digest of a download.
    struct Hasher {
        var md5: Insecure.MD5?
        var sha1: Insecure.SHA1?
        var sha256: SHA256?
        var sha512: SHA512?

        init(_ algorithm: Algorithm) {
            switch algorithm {
            case .md5: md5 = Insecure.MD5()
            case .sha1: sha1 = Insecure.SHA1()
            case .sha256: sha256 = SHA256()
            case .sha512: sha512 = SHA512()
            }
        }

        mutating func update(_ bytes: UnsafeRawBufferPointer) {
            md5?.update(bufferPointer: bytes)
            sha1?.update(bufferPointer: bytes)
            sha256?.update(bufferPointer: bytes)
            sha512?.update(bufferPointer: bytes)
        }

        func hex() -> String {
            let digest: [UInt8] =
                if let md5 { Array(md5.finalize()) } else if let sha1 { Array(sha1.finalize()) } else if let sha256 { Array(sha256.finalize()) } else {
                    Array(sha512!.finalize())
                }
            return digest.map { String(format: "%02x", $0) }.joined()
        }
    }
}
