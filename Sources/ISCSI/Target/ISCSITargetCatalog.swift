/// What a target serves: which targets exist, who may log in to them, and their logical unit.
public protocol ISCSITargetCatalog: Sendable {
    func authorize(initiator: String, target: String) -> ISCSILoginStateMachine.Authorization
    /// Targets a discovery session from `initiator` is told about.
    func targetNames(visibleTo initiator: String) -> [String]
    /// LUN 0 of a target.
    func logicalUnit(forTarget target: String) -> SCSILogicalUnit?
}

/// A fixed set of targets, for tests and tools.
public struct ISCSIStaticCatalog: ISCSITargetCatalog {
    public struct Entry: Sendable {
        public var unit: SCSILogicalUnit
        /// nil: any initiator.
        public var allowedInitiators: Set<String>?

        public init(unit: SCSILogicalUnit, allowedInitiators: Set<String>? = nil) {
            self.unit = unit
            self.allowedInitiators = allowedInitiators
        }
    }

    public var entries: [String: Entry]

    public init(_ entries: [String: Entry]) {
        self.entries = entries
    }

    public func authorize(initiator: String, target: String) -> ISCSILoginStateMachine.Authorization {
        guard let entry = entries[target] else { return .targetNotFound }
        return entry.allowedInitiators.map { $0.contains(initiator) } ?? true ? .allowed : .notAuthorized
    }

    public func targetNames(visibleTo initiator: String) -> [String] {
        entries.filter { $0.value.allowedInitiators.map { $0.contains(initiator) } ?? true }.keys.sorted()
    }

    public func logicalUnit(forTarget target: String) -> SCSILogicalUnit? { entries[target]?.unit }
}
