import Foundation
import LunarModel

/// What the node remembers about a volume, one JSON file per volume next to its sparse image.
struct VolumeMetadata: Codable, Sendable, Hashable {
    /// Bumped when the layout changes; a newer file is refused rather than misread.
    static let currentFormat = 1

    var format = VolumeMetadata.currentFormat
    var name: String
    var sizeBytes: UInt64
    var blockSize: Int
    var serial: String
    /// The low 60 bits of the NAA type 6 identifier.
    var naa: UInt64
    var allowedInitiators: [String]
    var created: Date
    /// nil: ``SANVolumeQoS/unlimited`` (volumes made before QoS existed).
    var qos: SANVolumeQoS?
    /// The owning account: logins need CHAP with its secrets.
    var account: String?

    enum CodingKeys: String, CodingKey {
        case format, name, serial, naa, created, qos, account
        case sizeBytes = "size_bytes"
        case blockSize = "block_size"
        case allowedInitiators = "allowed_initiators"
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    /// Volume names become part of the IQN and of file names: lower-case letters, digits, `-` and
    /// `.`, starting with a letter or digit, at most 64.
    static func validName(_ name: String) -> Bool {
        guard (1...64).contains(name.utf8.count), let first = name.unicodeScalars.first, ("0"..."9").contains(first) || ("a"..."z").contains(first)
        else { return false }
        return name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "." }
            && !name.hasSuffix(".tmp")
    }
}
