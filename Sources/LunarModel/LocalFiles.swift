/// The files a running Lunar writes into its data folder so scripts and the CLI can find it
/// without parsing logs.
public struct LunarEndpoints: Codable, Sendable, Hashable {
    /// The CloudStack API URL, e.g. `http://127.0.0.1:8080/client/api`.
    public var api: String?
    /// The SAN's iSCSI portal, `127.0.0.1:PORT`.
    public var sanPortal: String?
    /// The SAN's admin API base URL.
    public var sanAdmin: String?
    /// Where agents connect, `ws://127.0.0.1:PORT/agent`.
    public var agent: String?
    /// The agents `lunar up` started: host name, process id, initiator name.
    public var agents: [AgentProcess]?

    public struct AgentProcess: Codable, Sendable, Hashable {
        public var host: String
        public var pid: Int32
        public var initiator: String

        public init(host: String, pid: Int32, initiator: String) {
            self.host = host
            self.pid = pid
            self.initiator = initiator
        }
    }

    public init(api: String? = nil, sanPortal: String? = nil, sanAdmin: String? = nil) {
        self.api = api
        self.sanPortal = sanPortal
        self.sanAdmin = sanAdmin
    }

    enum CodingKeys: String, CodingKey {
        case api
        case sanPortal = "san_portal"
        case sanAdmin = "san_admin"
        case agent
        case agents
    }

    public static let fileName = "endpoints.json"
    public static let adminKeysFileName = "admin-keys.json"
    /// The agents' registration token (mode 0600); the server keeps only its hash.
    public static let agentTokenFileName = "agent-token"
}
