/// A CloudStack domain. Lunar has the single `ROOT` domain for now; accounts name it so the wire
/// format matches CloudStack's.
public struct Domain: Sendable, Hashable {
    public static let rootID = DomainID(trusted: "00000000-0000-4000-8000-000000000001")
    public static let root = Domain(id: rootID, name: "ROOT", path: "ROOT")

    public var id: DomainID
    public var name: String
    public var path: String
}
