import ISCSI
import Synchronization

/// The iSCSI target's view of the volumes: one target per volume, LUN 0, the allowed initiator
/// names. The volume store publishes a new snapshot after each change; logins read it without
/// waiting for the store.
final class SANCatalog: ISCSITargetCatalog {
    struct Entry: Sendable {
        var unit: SCSILogicalUnit
        var allowedInitiators: Set<String>
        /// The owning account's CHAP, when the volume has one.
        var credentials: ISCSICHAPCredentials? = nil
    }

    let entries = Mutex<[String: Entry]>([:])
    /// CHAP every discovery session must pass; nil: none.
    let discovery = Mutex<ISCSICHAPCredentials?>(nil)

    func discoveryCredentials(initiator: String) -> ISCSICHAPCredentials? {
        discovery.withLock { $0 }
    }

    func publish(target: String, entry: Entry?) {
        entries.withLock { $0[target] = entry }
    }

    func authorize(initiator: String, target: String) -> ISCSILoginStateMachine.Authorization {
        guard let entry = entries.withLock({ $0[target] }) else { return .targetNotFound }
        guard entry.allowedInitiators.contains(initiator.lowercased()) else { return .notAuthorized }
        return entry.credentials.map { .allowedWithCHAP($0) } ?? .allowed
    }

    func targetNames(visibleTo initiator: String) -> [String] {
        let name = initiator.lowercased()
        return entries.withLock { entries in entries.filter { $0.value.allowedInitiators.contains(name) }.keys.sorted() }
    }

    func logicalUnit(forTarget target: String) -> SCSILogicalUnit? {
        entries.withLock { $0[target]?.unit }
    }
}
