import NIOCore

/// The `key=value` pairs of login and text PDUs (RFC 7143 §6), NUL-separated, order kept.
public struct ISCSITextParameters: Hashable, Sendable, ExpressibleByDictionaryLiteral {
    /// RFC 7143 §6.1: keys are at most 63 bytes; values at most 255 unless a key says otherwise,
    /// and never more than 8192.
    public static let maximumKeyLength = 63
    public static let maximumValueLength = 8192
    public static let maximumPairs = 256

    public private(set) var pairs: [(key: String, value: String)]

    public init(_ pairs: [(key: String, value: String)] = []) {
        self.pairs = pairs
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        self.pairs = elements.map { ($0.0, $0.1) }
    }

    public subscript(key: String) -> String? {
        get { pairs.first { $0.key == key }?.value }
        set {
            if let index = pairs.firstIndex(where: { $0.key == key }) {
                if let newValue { pairs[index].value = newValue } else { pairs.remove(at: index) }
            } else if let newValue {
                pairs.append((key, newValue))
            }
        }
    }

    public var keys: [String] { pairs.map(\.key) }

    /// Adds a pair even when the key is there already (SendTargets answers repeat TargetName).
    public mutating func append(key: String, value: String) {
        pairs.append((key, value))
    }

    /// Parses a data segment. A trailing NUL is optional; an empty segment has no pairs.
    /// - Throws: ``ISCSIProtocolError`` for a pair without `=`, an over-long key or value, a key
    ///   given twice, or too many pairs.
    public static func parse(_ data: ByteBuffer) throws -> ISCSITextParameters {
        var parameters = ISCSITextParameters()
        var seen = Set<String>()
        for piece in data.readableBytesView.split(separator: 0, omittingEmptySubsequences: true) {
            guard parameters.pairs.count < maximumPairs else { throw ISCSIProtocolError(.malformedText, "more than \(maximumPairs) keys") }
            guard let equals = piece.firstIndex(of: UInt8(ascii: "=")) else {
                throw ISCSIProtocolError(.malformedText, "a text parameter has no '='")
            }
            let keyBytes = piece[piece.startIndex..<equals]
            let valueBytes = piece[piece.index(after: equals)...]
            guard !keyBytes.isEmpty, keyBytes.count <= maximumKeyLength, valueBytes.count <= maximumValueLength else {
                throw ISCSIProtocolError(.malformedText, "a text key or value is too long or empty")
            }
            guard let key = String(validating: keyBytes, as: UTF8.self), let value = String(validating: valueBytes, as: UTF8.self) else {
                throw ISCSIProtocolError(.malformedText, "a text parameter is not UTF-8")
            }
            guard seen.insert(key).inserted else { throw ISCSIProtocolError(.malformedText, "key \(key) given twice") }
            parameters.pairs.append((key, value))
        }
        return parameters
    }

    /// The data segment: each pair followed by a NUL.
    public func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        for pair in pairs {
            buffer.writeString(pair.key)
            buffer.writeInteger(UInt8(ascii: "="))
            buffer.writeString(pair.value)
            buffer.writeInteger(UInt8(0))
        }
        return buffer
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.pairs.count == rhs.pairs.count && zip(lhs.pairs, rhs.pairs).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        for pair in pairs {
            hasher.combine(pair.key)
            hasher.combine(pair.value)
        }
    }
}
