/// The files a running Lunar writes into its data folder so scripts and the CLI can find it
/// without parsing logs.
public struct LunarEndpoints: Codable, Sendable, Hashable {
    /// The CloudStack API URL, e.g. `http://127.0.0.1:8080/client/api`.
    public var api: String?
    /// The SAN's iSCSI portal, `127.0.0.1:PORT`.
    public var sanPortal: String?
    /// The SAN's admin API base URL.
    public var sanAdmin: String?

    public init(api: String? = nil, sanPortal: String? = nil, sanAdmin: String? = nil) {
        self.api = api
        self.sanPortal = sanPortal
        self.sanAdmin = sanAdmin
    }

    enum CodingKeys: String, CodingKey {
        case api
        case sanPortal = "san_portal"
        case sanAdmin = "san_admin"
    }

    public static let fileName = "endpoints.json"
    public static let adminKeysFileName = "admin-keys.json"
}
