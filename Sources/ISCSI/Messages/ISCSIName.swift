/// iSCSI names (RFC 7143 §4.2.7): `iqn.yyyy-mm.reversed.domain[:anything]`, `eui.` + 16 hex
/// digits, or `naa.` + 16 or 32 hex digits; at most 223 bytes; compared in lower case.
public enum ISCSIName {
    public static let maximumLength = 223

    /// The name in its normal (lower-case) form, or nil when it is not a valid iSCSI name.
    public static func normalized(_ name: String) -> String? {
        let lower = name.lowercased()
        guard !lower.isEmpty, lower.utf8.count <= maximumLength else { return nil }
        let allowed = lower.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || ".-:".unicodeScalars.contains($0) }
        guard allowed else { return nil }
        if lower.hasPrefix("iqn.") {
            // iqn.YYYY-MM.<reversed domain>...
            let rest = Array(lower.utf8.dropFirst(4))
            guard rest.count >= 9, rest[4] == UInt8(ascii: "-"), rest[7] == UInt8(ascii: "."),
                rest[0..<4].allSatisfy({ (48...57).contains($0) }), rest[5..<7].allSatisfy({ (48...57).contains($0) })
            else { return nil }
            return lower
        }
        let hex = { (text: Substring) in text.unicodeScalars.allSatisfy { ("0"..."9").contains($0) || ("a"..."f").contains($0) } }
        if lower.hasPrefix("eui.") {
            let digits = lower.dropFirst(4)
            return digits.count == 16 && hex(digits) ? lower : nil
        }
        if lower.hasPrefix("naa.") {
            let digits = lower.dropFirst(4)
            return (digits.count == 16 || digits.count == 32) && hex(digits) ? lower : nil
        }
        return nil
    }
}
