/// An account owns resources; its users hold the API keys.
public struct Account: Sendable, Hashable {
    /// CloudStack's `accounttype`.
    public enum Kind: Int, Sendable, Hashable, CaseIterable {
        case user = 0
        case rootAdmin = 1
        case domainAdmin = 2

        /// CloudStack's `roletype`.
        public var roleType: String {
            switch self {
            case .user: "User"
            case .rootAdmin: "Admin"
            case .domainAdmin: "DomainAdmin"
            }
        }
    }

    public enum State: String, Sendable, Hashable, CaseIterable {
        case enabled, disabled, locked
    }

    public var id: AccountID
    public var name: String
    public var domainID: DomainID
    public var kind: Kind
    public var state: State
    public var createdEpochSeconds: Int64

    public init(id: AccountID, name: String, domainID: DomainID, kind: Kind, state: State, createdEpochSeconds: Int64) {
        self.id = id
        self.name = name
        self.domainID = domainID
        self.kind = kind
        self.state = state
        self.createdEpochSeconds = createdEpochSeconds
    }

    public var isRootAdmin: Bool { kind == .rootAdmin }
}
