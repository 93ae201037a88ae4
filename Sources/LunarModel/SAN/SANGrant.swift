/// What a host needs to reach a volume it was just granted, in one answer of the SAN's
/// `PUT /v1/volumes/{name}/grants/{iqn}`: the allow and the connection are one call, so a grant is
/// never half made (allowed at the SAN while the caller saw an error reading the secrets).
public struct SANGrant: Codable, Sendable, Hashable {
    public var volume: String
    /// The initiator granted.
    public var initiator: String
    public var portal: String
    /// The volume's target.
    public var iqn: String
    public var lun: Int
    /// CHAP, when the volume belongs to an account: the user is the account's name.
    public var chapUser: String?
    public var chapSecret: String?
    /// The target's secret, for initiators that ask for mutual CHAP.
    public var targetSecret: String?

    public init(volume: String, initiator: String, portal: String, iqn: String, lun: Int, chapUser: String?, chapSecret: String?, targetSecret: String?) {
        self.volume = volume
        self.initiator = initiator
        self.portal = portal
        self.iqn = iqn
        self.lun = lun
        self.chapUser = chapUser
        self.chapSecret = chapSecret
        self.targetSecret = targetSecret
    }

    enum CodingKeys: String, CodingKey {
        case volume, initiator, portal, iqn, lun
        case chapUser = "chap_user"
        case chapSecret = "chap_secret"
        case targetSecret = "target_secret"
    }
}
