import Foundation

/// Storage tags: a comma-separated list on offerings and pools. A pool can take a volume only if it
/// carries every tag of the volume's offering.
public enum StorageTags {
    public static let maximumCount = 32
    public static let maximumLength = 64

    /// Parses `"ssd, fast"` into `["ssd", "fast"]` (trimmed, duplicates dropped, order kept).
    /// - Throws: a 431 naming the rule: empty tags, characters outside `A-Z a-z 0-9 _ . : -`, too long, too many.
    public static func parse(_ text: String?, parameter: String = "tags") throws -> [String] {
        guard let text, !text.trimmingCharacters(in: .whitespaces).isEmpty else { return [] }
        var tags: [String] = []
        for raw in text.split(separator: ",", omittingEmptySubsequences: false) {
            let tag = raw.trimmingCharacters(in: .whitespaces)
            guard !tag.isEmpty else {
                throw LunarError.invalidParameter(parameter, value: text, reason: "tags are a comma-separated list with no empty entries")
            }
            guard tag.count <= maximumLength else {
                throw LunarError.invalidParameter(parameter, value: text, reason: "a tag is at most \(maximumLength) characters")
            }
            guard tag.unicodeScalars.allSatisfy({ $0.isASCII && (Character($0).isLetter || Character($0).isNumber || "_.:-".unicodeScalars.contains($0)) }) else {
                throw LunarError.invalidParameter(parameter, value: text, reason: "tags may contain only letters, digits, '_', '.', ':' and '-'")
            }
            if !tags.contains(tag) { tags.append(tag) }
        }
        guard tags.count <= maximumCount else {
            throw LunarError.invalidParameter(parameter, value: text, reason: "at most \(maximumCount) tags")
        }
        return tags
    }

    public static func join(_ tags: [String]) -> String { tags.joined(separator: ",") }
}
