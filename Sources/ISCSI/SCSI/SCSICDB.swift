/// A command descriptor block read defensively: bytes past the end read as zero, so no field
/// access can trap; ``SCSILogicalUnit`` still checks the length the group code implies first.
struct SCSICDB {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    subscript(_ index: Int) -> UInt8 { index >= 0 && index < bytes.count ? bytes[index] : 0 }

    var opcode: UInt8 { self[0] }
    /// The low five bits of byte 1, where SERVICE ACTION IN/OUT and MAINTENANCE IN keep it.
    var serviceAction: UInt8 { self[1] & 0x1F }

    func be16(_ offset: Int) -> UInt16 { UInt16(self[offset]) << 8 | UInt16(self[offset + 1]) }
    func be24(_ offset: Int) -> UInt32 { UInt32(self[offset]) << 16 | UInt32(self[offset + 1]) << 8 | UInt32(self[offset + 2]) }
    func be32(_ offset: Int) -> UInt32 { UInt32(be16(offset)) << 16 | UInt32(be16(offset + 2)) }
    func be64(_ offset: Int) -> UInt64 { UInt64(be32(offset)) << 32 | UInt64(be32(offset + 4)) }

    /// The CDB length the operation code's group implies (SPC-4 §4.2.5.1); nil for the reserved,
    /// vendor-specific and variable-length groups, none of which this device server supports.
    static func length(ofOpcode opcode: UInt8) -> Int? {
        switch opcode >> 5 {
        case 0: 6
        case 1, 2: 10
        case 4: 16
        case 5: 12
        default: nil
        }
    }
}

/// Big-endian field helpers for building and parsing parameter data.
enum SCSIBytes {
    static func be16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }
    static func be32(_ value: UInt32) -> [UInt8] { be16(UInt16(value >> 16)) + be16(UInt16(value & 0xFFFF)) }
    static func be64(_ value: UInt64) -> [UInt8] { be32(UInt32(value >> 32)) + be32(UInt32(value & 0xFFFF_FFFF)) }

    /// Reads a big-endian integer of `count` bytes at `offset`; zero past the end.
    static func read(_ bytes: [UInt8], _ offset: Int, _ count: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in offset..<(offset + count) { value = value << 8 | UInt64(index >= 0 && index < bytes.count ? bytes[index] : 0) }
        return value
    }

    /// `text` as ASCII padded with spaces (or cut) to `width` bytes.
    static func ascii(_ text: String, _ width: Int) -> [UInt8] {
        let bytes = Array(text.utf8.prefix(width))
        return bytes + [UInt8](repeating: 0x20, count: width - bytes.count)
    }
}
