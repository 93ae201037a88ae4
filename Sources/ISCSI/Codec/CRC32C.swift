/// CRC32C (Castagnoli), the iSCSI header and data digest (RFC 7143 §13.1), slicing-by-8.
public enum CRC32C {
    static let tables: [[UInt32]] = {
        var tables = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 8)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            tables[0][byte] = crc
        }
        for byte in 0..<256 {
            for slice in 1..<8 {
                let previous = tables[slice - 1][byte]
                tables[slice][byte] = (previous >> 8) ^ tables[0][Int(previous & 0xFF)]
            }
        }
        return tables
    }()

    /// The digest of `bytes`, continuing from `seed` (a previous digest, for data split in pieces).
    public static func checksum(_ bytes: some Sequence<UInt8>, continuing seed: UInt32 = 0) -> UInt32 {
        var crc = ~seed
        let t = tables
        var iterator = bytes.makeIterator()
        var chunk = [UInt8](repeating: 0, count: 8)
        while true {
            var filled = 0
            while filled < 8, let byte = iterator.next() {
                chunk[filled] = byte
                filled += 1
            }
            if filled == 8 {
                let low = crc ^ (UInt32(chunk[0]) | UInt32(chunk[1]) << 8 | UInt32(chunk[2]) << 16 | UInt32(chunk[3]) << 24)
                crc = t[7][Int(low & 0xFF)] ^ t[6][Int(low >> 8 & 0xFF)] ^ t[5][Int(low >> 16 & 0xFF)] ^ t[4][Int(low >> 24)]
                    ^ t[3][Int(chunk[4])] ^ t[2][Int(chunk[5])] ^ t[1][Int(chunk[6])] ^ t[0][Int(chunk[7])]
            } else {
                for index in 0..<filled { crc = t[0][Int((crc ^ UInt32(chunk[index])) & 0xFF)] ^ (crc >> 8) }
                break
            }
        }
        return ~crc
    }
}
