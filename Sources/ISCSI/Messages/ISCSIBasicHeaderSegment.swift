/// The 48-byte Basic Header Segment every PDU starts with (RFC 7143 §11.2.1).
///
/// ```
///  Byte/     0       |       1       |       2       |       3       |
///      +---------------+---------------+---------------+---------------+
///     0|.|I| Opcode    |F|  Opcode-specific fields                      |
///      +---------------+---------------+---------------+---------------+
///     4|TotalAHSLength | DataSegmentLength                             |
///      +---------------+---------------+---------------+---------------+
///     8| LUN or Opcode-specific fields                                 |
///      +                                                               +
///    12|                                                               |
///      +---------------+---------------+---------------+---------------+
///    16| Initiator Task Tag                                            |
///      +---------------+---------------+---------------+---------------+
///    20/ Opcode-specific fields                                        /
///    48+---------------+---------------+---------------+---------------+
/// ```
///
/// Fields are read and written in place; the typed message views (`ISCSIPDU+*.swift`) name them.
public struct ISCSIBasicHeaderSegment: Hashable, Sendable {
    public static let length = 48

    public private(set) var bytes: [UInt8]

    /// A zeroed header with an opcode.
    public init(opcode: ISCSIOpcode, immediate: Bool = false) {
        self.bytes = [UInt8](repeating: 0, count: Self.length)
        self.bytes[0] = opcode.rawValue | (immediate ? 0x40 : 0)
    }

    /// A header from 48 received bytes.
    public init(bytes: [UInt8]) {
        precondition(bytes.count == Self.length, "a BHS is 48 bytes")
        self.bytes = bytes
    }

    public var opcode: ISCSIOpcode { ISCSIOpcode(rawValue: bytes[0]) }

    /// The I bit: the command is delivered for immediate execution.
    public var isImmediate: Bool {
        get { bytes[0] & 0x40 != 0 }
        set { bytes[0] = newValue ? bytes[0] | 0x40 : bytes[0] & ~0x40 }
    }

    /// Byte 1: the F bit and opcode-specific flags.
    public var flags: UInt8 {
        get { bytes[1] }
        set { bytes[1] = newValue }
    }

    /// The F (final) bit.
    public var isFinal: Bool {
        get { bytes[1] & 0x80 != 0 }
        set { bytes[1] = newValue ? bytes[1] | 0x80 : bytes[1] & ~0x80 }
    }

    /// Length of the additional header segments, in 4-byte words.
    public var totalAHSLengthWords: UInt8 {
        get { bytes[4] }
        set { bytes[4] = newValue }
    }

    /// Length of the data segment in bytes, without padding (24 bits).
    public var dataSegmentLength: Int {
        get { Int(bytes[5]) << 16 | Int(bytes[6]) << 8 | Int(bytes[7]) }
        set {
            precondition(newValue >= 0 && newValue < 1 << 24, "DataSegmentLength is 24 bits")
            bytes[5] = UInt8(truncatingIfNeeded: newValue >> 16)
            bytes[6] = UInt8(truncatingIfNeeded: newValue >> 8)
            bytes[7] = UInt8(truncatingIfNeeded: newValue)
        }
    }

    /// Bytes 8–15: the LUN, or opcode-specific fields (ISID and TSIH in login PDUs).
    public var logicalUnitNumber: UInt64 {
        get { uint64(at: 8) }
        set { setUInt64(newValue, at: 8) }
    }

    public var initiatorTaskTag: UInt32 {
        get { uint32(at: 16) }
        set { setUInt32(newValue, at: 16) }
    }

    // MARK: Field access by offset, for the typed views.

    public func uint8(at offset: Int) -> UInt8 { bytes[offset] }

    public mutating func setUInt8(_ value: UInt8, at offset: Int) { bytes[offset] = value }

    public func uint16(at offset: Int) -> UInt16 { UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1]) }

    public mutating func setUInt16(_ value: UInt16, at offset: Int) {
        bytes[offset] = UInt8(truncatingIfNeeded: value >> 8)
        bytes[offset + 1] = UInt8(truncatingIfNeeded: value)
    }

    public func uint32(at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }

    public mutating func setUInt32(_ value: UInt32, at offset: Int) {
        for index in 0..<4 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (24 - 8 * index)) }
    }

    public func uint64(at offset: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 << 8 | UInt64(bytes[offset + $1]) }
    }

    public mutating func setUInt64(_ value: UInt64, at offset: Int) {
        for index in 0..<8 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (56 - 8 * index)) }
    }
}
