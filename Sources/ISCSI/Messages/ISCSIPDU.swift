import NIOCore

/// One iSCSI PDU as framed on the wire: the Basic Header Segment, any Additional Header
/// Segments, and the data segment (without its padding or digests). Typed views of the fields
/// of each message family are in `ISCSIPDU+*.swift`.
public struct ISCSIPDU: Hashable, Sendable {
    public var header: ISCSIBasicHeaderSegment
    /// The AHS bytes, a multiple of four.
    public var additionalHeaderSegments: [UInt8]
    public var data: ByteBuffer

    public init(header: ISCSIBasicHeaderSegment, additionalHeaderSegments: [UInt8] = [], data: ByteBuffer = ByteBuffer()) {
        precondition(additionalHeaderSegments.count % 4 == 0, "AHS come in 4-byte words")
        self.header = header
        self.additionalHeaderSegments = additionalHeaderSegments
        self.data = data
        self.header.totalAHSLengthWords = UInt8(additionalHeaderSegments.count / 4)
        self.header.dataSegmentLength = data.readableBytes
    }

    public var opcode: ISCSIOpcode { header.opcode }
}

/// Why a PDU could not be framed. Carries the offending header bytes for the log.
public struct ISCSIProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let rawValue: String
        public static let dataSegmentTooLong = Code(rawValue: "dataSegmentTooLong")
        public static let headerDigestMismatch = Code(rawValue: "headerDigestMismatch")
        public static let dataDigestMismatch = Code(rawValue: "dataDigestMismatch")
        public static let truncated = Code(rawValue: "truncated")
        public static let malformedText = Code(rawValue: "malformedText")
        public var description: String { rawValue }
    }

    public let code: Code
    public let reason: String
    public let headerBytes: [UInt8]

    public init(_ code: Code, _ reason: String, headerBytes: [UInt8] = []) {
        self.code = code
        self.reason = reason
        self.headerBytes = headerBytes
    }

    public var description: String { "\(code): \(reason)" }
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
