/// Sizes as people type them: `1G`, `512M`, `10GiB`, `4096` (bytes). Binary multiples, as
/// `qemu-img` and `truncate` read them.
public enum ByteSize {
    public static func parse(_ text: String) -> UInt64? {
        var digits = Substring(text.trimmingSpaces())
        var suffix = ""
        while let last = digits.last, last.isLetter {
            suffix = String(last).uppercased() + suffix
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.allSatisfy(\.isNumber), let number = UInt64(digits) else { return nil }
        let shift: UInt64
        switch suffix {
        case "", "B": shift = 0
        case "K", "KB", "KIB": shift = 10
        case "M", "MB", "MIB": shift = 20
        case "G", "GB", "GIB": shift = 30
        case "T", "TB", "TIB": shift = 40
        default: return nil
        }
        guard number <= UInt64.max >> shift else { return nil }
        return number << shift
    }

    /// `1073741824` → `1 GiB`; exact multiples only, else bytes.
    public static func format(_ bytes: UInt64) -> String {
        for (shift, unit) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] where bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift) \(unit)"
        }
        return "\(bytes) B"
    }
}

extension String {
    fileprivate func trimmingSpaces() -> Substring {
        var slice = Substring(self)
        while slice.first == " " { slice = slice.dropFirst() }
        while slice.last == " " { slice = slice.dropLast() }
        return slice
    }
}
