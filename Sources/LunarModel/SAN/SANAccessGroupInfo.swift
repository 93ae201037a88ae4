/// A volume access group as the SAN's admin API shows it: initiators in the group may log in to
/// the volumes in the group.
public struct SANAccessGroupInfo: Codable, Sendable, Hashable {
    public var name: String
    public var initiators: [String]
    public var volumes: [String]
    /// Made by `lunar san volume allow` for one volume (`auto.<volume>`), removed with it.
    public var automatic: Bool

    public init(name: String, initiators: [String], volumes: [String], automatic: Bool) {
        self.name = name
        self.initiators = initiators
        self.volumes = volumes
        self.automatic = automatic
    }
}
