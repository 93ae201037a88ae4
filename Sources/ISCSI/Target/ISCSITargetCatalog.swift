/// What a target serves: which targets exist, who may log in to them, and their logical unit.
public protocol ISCSITargetCatalog: Sendable {
    func authorize(initiator: String, target: String) -> ISCSILoginStateMachine.Authorization
    /// Targets a discovery session from `initiator` is told about.
    func targetNames(visibleTo initiator: String) -> [String]
    /// LUN 0 of a target.
    func logicalUnit(forTarget target: String) -> SCSILogicalUnit?
    /// CHAP a discovery session from `initiator` must pass; nil: none.
    func discoveryCredentials(initiator: String) -> ISCSICHAPCredentials?
}

extension ISCSITargetCatalog {
    public func discoveryCredentials(initiator: String) -> ISCSICHAPCredentials? { nil }
}

/// A fixed set of targets, for tests and tools.
public struct ISCSIStaticCatalog: ISCSITargetCatalog {
    public struct Entry: Sendable {
        public var unit: SCSILogicalUnit
        /// nil: any initiator.
        public var allowedInitiators: Set<String>?
        /// Required CHAP, if any.
        public var credentials: ISCSICHAPCredentials?

        public init(unit: SCSILogicalUnit, allowedInitiators: Set<String>? = nil, credentials: ISCSICHAPCredentials? = nil) {
            self.unit = unit
            self.allowedInitiators = allowedInitiators
            self.credentials = credentials
        }
    }

    public var entries: [String: Entry]

    public init(_ entries: [String: Entry]) {
        self.entries = entries
    }

    public func authorize(initiator: String, target: String) -> ISCSILoginStateMachine.Authorization {
        guard let entry = entries[target] else { return .targetNotFound }
        guard entry.allowedInitiators.map({ $0.contains(initiator) }) ?? true else { return .notAuthorized }
        return entry.credentials.map { .allowedWithCHAP($0) } ?? .allowed
    }

    public func targetNames(visibleTo initiator: String) -> [String] {
        entries.filter { $0.value.allowedInitiators.map { $0.contains(initiator) } ?? true }.keys.sorted()
    }

    public func logicalUnit(forTarget target: String) -> SCSILogicalUnit? { entries[target]?.unit }
}
