import Foundation
import ISCSI
import LunarModel

/// Volume access groups: who may log in to which volume. A change that takes access away
/// returns only after every affected initiator is fenced off the volume (see
/// ``ISCSISessionRegistry/fence(target:initiator:)``).
extension VolumeStore {
    static func loadGroups(_ path: String) throws -> [String: AccessGroup] {
        guard let data = FileManager.default.contents(atPath: path) else { return [:] }
        let file: AccessGroup.File
        do {
            file = try JSONDecoder().decode(AccessGroup.File.self, from: data)
        } catch {
            throw SANError(.storageFailure, "cannot read access groups \(path): \(error)")
        }
        guard file.format <= 1 else { throw SANError(.storageFailure, "\(path) was written by a newer Lunar (format \(file.format)); upgrade this node") }
        return Dictionary(file.groups.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    static func writeGroups(_ groups: [String: AccessGroup], to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try DurableFile.write(try encoder.encode(AccessGroup.File(groups: groups.values.sorted { $0.name < $1.name })), to: path)
    }

    static func initiators(of volume: String, in groups: [String: AccessGroup]) -> Set<String> {
        var initiators: Set<String> = []
        for group in groups.values where group.volumes.contains(volume) { initiators.formUnion(group.initiators) }
        return initiators
    }

    static func normalizedInitiator(_ initiator: String) throws -> String {
        guard let normalized = ISCSIName.normalized(initiator) else {
            throw SANError(.invalidInitiator, "\(initiator) is not an iSCSI name (iqn.YYYY-MM.domain:..., eui.<16 hex> or naa.<hex>)")
        }
        return normalized
    }

    /// Every (initiator, volume) pair the groups allow.
    static func accessPairs(_ groups: [String: AccessGroup]) -> Set<AccessPair> {
        var pairs: Set<AccessPair> = []
        for group in groups.values {
            for volume in group.volumes { for initiator in group.initiators { pairs.insert(AccessPair(initiator: initiator, volume: volume)) } }
        }
        return pairs
    }

    struct AccessPair: Hashable {
        var initiator: String
        var volume: String
    }

    /// Applies a change that only adds access: written, then published.
    func changeGroups(_ change: (inout [String: AccessGroup]) throws -> Void) throws {
        var changed = groups
        try change(&changed)
        try Self.writeGroups(changed, to: configuration.groupsFile)
        let touched = Set(groups.values.flatMap(\.volumes)).union(changed.values.flatMap(\.volumes))
        groups = changed
        for volume in touched { publish(volume) }
    }

    /// Applies a change that may take access away: written, published (new logins refused), then
    /// every initiator that lost a volume is fenced off it before this returns.
    func revokingChange(_ change: (inout [String: AccessGroup]) throws -> Void) async throws {
        let before = Self.accessPairs(groups)
        try changeGroups(change)
        let lost = before.subtracting(Self.accessPairs(groups))
        // Each fence is recorded while under way: a revoke of the same pair arriving meanwhile
        // (this actor is reentrant across the await) waits for it instead of answering at once.
        var tasks: [(key: String, task: Task<Int, Never>)] = []
        for pair in lost {
            let key = Self.fenceKey(volume: pair.volume, initiator: pair.initiator)
            let target = Self.iqn(configuration.iqnPrefix, pair.volume)
            let sessions = self.sessions
            let task = Task { await sessions?.fence(target: target, initiator: pair.initiator) ?? 0 }
            fencesUnderWay[key] = task
            tasks.append((key, task))
        }
        var fenced = 0
        for (key, task) in tasks {
            fenced += await task.value
            fencesUnderWay[key] = nil
        }
        if !lost.isEmpty {
            logger.info(
                "access revoked",
                metadata: [
                    "san.pairs": .string(lost.map { "\($0.initiator)→\($0.volume)" }.sorted().joined(separator: ", ")),
                    "san.fenced_sessions": .stringConvertible(fenced),
                ]
            )
        }
    }

    static func fenceKey(volume: String, initiator: String) -> String { volume + "\n" + initiator }

    /// Waits for a fence of this pair that another call started, if one is under way.
    func awaitFence(volume: String, initiator: String) async {
        if let task = fencesUnderWay[Self.fenceKey(volume: volume, initiator: initiator)] { _ = await task.value }
    }

    func groupNotFound(_ name: String) -> SANError { SANError(.groupNotFound, "no access group named \(name)") }

    // MARK: The API's operations

    public func listGroups() -> [SANAccessGroupInfo] {
        groups.values.sorted { $0.name < $1.name }.map(\.info)
    }

    public func showGroup(_ name: String) throws -> SANAccessGroupInfo {
        guard let group = groups[name] else { throw groupNotFound(name) }
        return group.info
    }

    public func createGroup(_ name: String) throws -> SANAccessGroupInfo {
        guard VolumeMetadata.validName(name), !name.hasPrefix(AccessGroup.automaticPrefix) else {
            throw SANError(
                .invalidName, "group names are 1 to 64 lower-case letters, digits, '-' or '.', starting with a letter or digit, not starting with 'auto.'"
            )
        }
        guard groups[name] == nil else { throw SANError(.groupExists, "an access group named \(name) exists") }
        guard groups.count < AccessGroup.maximumGroups else { throw SANError(.limitExceeded, "this node holds at most \(AccessGroup.maximumGroups) groups") }
        try changeGroups { $0[name] = AccessGroup(name: name, initiators: [], volumes: []) }
        return groups[name]!.info
    }

    public func deleteGroup(_ name: String) async throws {
        guard groups[name] != nil else { throw groupNotFound(name) }
        try await revokingChange { $0[name] = nil }
    }

    public func addInitiator(_ initiator: String, toGroup name: String) throws -> SANAccessGroupInfo {
        guard var group = groups[name] else { throw groupNotFound(name) }
        let normalized = try Self.normalizedInitiator(initiator)
        guard group.initiators.count < AccessGroup.maximumMembers else { throw SANError(.limitExceeded, "a group holds at most \(AccessGroup.maximumMembers) initiators") }
        group.initiators.insert(normalized)
        try changeGroups { $0[name] = group }
        return group.info
    }

    public func removeInitiator(_ initiator: String, fromGroup name: String) async throws -> SANAccessGroupInfo {
        guard let group = groups[name] else { throw groupNotFound(name) }
        let normalized = initiator.lowercased()
        guard group.initiators.contains(normalized) else { throw SANError(.notFound, "\(initiator) is not in group \(name)") }
        try await revokingChange { $0[name]?.initiators.remove(normalized) }
        return groups[name]!.info
    }

    public func addVolume(_ volume: String, toGroup name: String) throws -> SANAccessGroupInfo {
        guard var group = groups[name] else { throw groupNotFound(name) }
        guard volumes[volume] != nil else { throw notFound(volume) }
        guard group.volumes.count < AccessGroup.maximumMembers else { throw SANError(.limitExceeded, "a group holds at most \(AccessGroup.maximumMembers) volumes") }
        group.volumes.insert(volume)
        try changeGroups { $0[name] = group }
        return group.info
    }

    public func removeVolume(_ volume: String, fromGroup name: String) async throws -> SANAccessGroupInfo {
        guard let group = groups[name] else { throw groupNotFound(name) }
        guard group.volumes.contains(volume) else { throw SANError(.notFound, "volume \(volume) is not in group \(name)") }
        try await revokingChange { $0[name]?.volumes.remove(volume) }
        return groups[name]!.info
    }
}

extension VolumeStore {
    /// An initiator's sessions on this node and how long they have been silent.
    func initiatorActivity(_ iqn: String) -> SANInitiatorActivity {
        let (count, idle) = sessions?.activity(initiator: iqn) ?? (0, nil)
        return SANInitiatorActivity(initiator: iqn, sessions: count, idleMilliseconds: idle.map { Int($0.components.seconds * 1000 + $0.components.attoseconds / 1_000_000_000_000_000) })
    }
}
