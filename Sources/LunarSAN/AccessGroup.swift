import Foundation
import LunarModel

/// A volume access group: an initiator may log in to a volume only if some group holds both.
/// All groups live in one file, `<data>/san/groups.json`, replaced atomically.
struct AccessGroup: Codable, Sendable, Hashable {
    var name: String
    var initiators: Set<String>
    var volumes: Set<String>

    /// `lunar san volume allow NAME IQN` is shorthand for this volume's own group.
    static let automaticPrefix = "auto."
    static func automaticName(for volume: String) -> String { automaticPrefix + volume }
    var isAutomatic: Bool { name.hasPrefix(Self.automaticPrefix) }

    static let maximumGroups = 4096
    static let maximumMembers = 1024

    var info: SANAccessGroupInfo {
        SANAccessGroupInfo(name: name, initiators: initiators.sorted(), volumes: volumes.sorted(), automatic: isAutomatic)
    }

    struct File: Codable {
        var format = 1
        var groups: [AccessGroup]
    }
}
