import LunarModel

/// Decodes `application/x-www-form-urlencoded` text (query strings and POST bodies) the way a
/// servlet container does: `+` is a space, `%XX` a byte, and the bytes UTF-8.
enum FormDecoding {
    /// Upper bound on parameters per request, so a hostile request cannot make us build huge maps.
    static let maximumParameters = 1024

    static func parse(_ text: Substring) throws -> [(name: String, value: String)] {
        var pairs: [(name: String, value: String)] = []
        for piece in text.split(separator: "&", omittingEmptySubsequences: true) {
            guard pairs.count < maximumParameters else {
                throw LunarError(.parameterError, "malformed request: more than \(maximumParameters) parameters")
            }
            let parts = piece.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = try decode(parts[0])
            let value = parts.count > 1 ? try decode(parts[1]) : ""
            guard !name.isEmpty else { continue }
            pairs.append((name, value))
        }
        return pairs
    }

    static func decode(_ text: Substring) throws -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"): bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    throw LunarError(.parameterError, "malformed request: bad percent-encoding in \(text.prefix(64))")
                }
                bytes.append(high << 4 | low)
            default: bytes.append(byte)
            }
        }
        guard let string = String(validating: bytes, as: UTF8.self) else {
            throw LunarError(.parameterError, "malformed request: parameter is not valid UTF-8")
        }
        return string
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
