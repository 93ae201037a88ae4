import Foundation

/// Settings of `lunar server`, from flags or a JSON config file (flags win).
public struct ServerConfiguration: Sendable, Codable {
    /// The data folder: database, keys, endpoints.
    public var dataDirectory: String
    public var bindAddress: String = "127.0.0.1"
    /// 0 picks a free port (written to `endpoints.json`).
    public var port: Int = 8080
    /// The SQLite file; `lunar.db` in the data folder when absent.
    public var databasePath: String?
    /// Largest request body accepted; a larger one gets a 413 before it is read.
    public var maximumBodyBytes: Int = 1 << 20
    /// Largest request line plus headers; more gets a 431.
    public var maximumHeaderBytes: Int = 64 << 10
    /// An HTTP connection that sends nothing for this long, between requests or in the middle of one,
    /// is closed (0: never); a request being answered is not cut off. Upgraded agent WebSockets are
    /// not HTTP connections any more and have their own heartbeats.
    public var httpIdleTimeoutMilliseconds: Int = 30_000
    /// A request line and headers must arrive within this long of the connection opening, or of the
    /// first byte of a later request on it (0: no limit).
    public var httpHeaderTimeoutMilliseconds: Int = 10_000
    /// Open connections (API and agents) beyond this are answered 503 and closed at once.
    public var maximumConnections: Int = 1_024
    public var maximumUnfinishedJobs: Int = 1_000
    public var maximumConcurrentJobs: Int = 16
    /// How often agents beat.
    public var agentHeartbeatMilliseconds: Int = 1_000
    /// Heartbeats an Up host may miss before it is investigated for HA.
    public var missedHeartbeatsBeforeInvestigation: Int = 5
    /// Multiplies every agent command's timeout (simulations shorten them).
    public var agentTimeoutScale: Double = 1
    /// Where registered templates are downloaded (`secondary` in the data folder when absent).
    public var secondaryStorageDirectory: String?
    /// The largest template image `registerTemplate` downloads.
    public var maximumTemplateBytes: Int64 = 20 << 30

    public init(dataDirectory: String, bindAddress: String = "127.0.0.1", port: Int = 8080) {
        self.dataDirectory = dataDirectory
        self.bindAddress = bindAddress
        self.port = port
    }

    enum CodingKeys: String, CodingKey {
        case dataDirectory = "data"
        case bindAddress = "bind"
        case port
        case databasePath = "database"
        case maximumBodyBytes = "max_body_bytes"
        case maximumHeaderBytes = "max_header_bytes"
        case httpIdleTimeoutMilliseconds = "http_idle_timeout_ms"
        case httpHeaderTimeoutMilliseconds = "http_header_timeout_ms"
        case maximumConnections = "max_connections"
        case maximumUnfinishedJobs = "max_unfinished_jobs"
        case maximumConcurrentJobs = "max_concurrent_jobs"
        case agentHeartbeatMilliseconds = "agent_heartbeat_ms"
        case missedHeartbeatsBeforeInvestigation = "missed_heartbeats"
        case agentTimeoutScale = "agent_timeout_scale"
        case secondaryStorageDirectory = "secondary_storage"
        case maximumTemplateBytes = "max_template_bytes"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.dataDirectory = try container.decodeIfPresent(String.self, forKey: .dataDirectory) ?? "./lunar-data"
        self.bindAddress = try container.decodeIfPresent(String.self, forKey: .bindAddress) ?? "127.0.0.1"
        self.port = try container.decodeIfPresent(Int.self, forKey: .port) ?? 8080
        self.databasePath = try container.decodeIfPresent(String.self, forKey: .databasePath)
        self.maximumBodyBytes = try container.decodeIfPresent(Int.self, forKey: .maximumBodyBytes) ?? 1 << 20
        self.maximumHeaderBytes = try container.decodeIfPresent(Int.self, forKey: .maximumHeaderBytes) ?? 64 << 10
        self.httpIdleTimeoutMilliseconds = try container.decodeIfPresent(Int.self, forKey: .httpIdleTimeoutMilliseconds) ?? 30_000
        self.httpHeaderTimeoutMilliseconds = try container.decodeIfPresent(Int.self, forKey: .httpHeaderTimeoutMilliseconds) ?? 10_000
        self.maximumConnections = try container.decodeIfPresent(Int.self, forKey: .maximumConnections) ?? 1_024
        self.maximumUnfinishedJobs = try container.decodeIfPresent(Int.self, forKey: .maximumUnfinishedJobs) ?? 1_000
        self.maximumConcurrentJobs = try container.decodeIfPresent(Int.self, forKey: .maximumConcurrentJobs) ?? 16
        self.agentHeartbeatMilliseconds = try container.decodeIfPresent(Int.self, forKey: .agentHeartbeatMilliseconds) ?? 1_000
        self.missedHeartbeatsBeforeInvestigation = try container.decodeIfPresent(Int.self, forKey: .missedHeartbeatsBeforeInvestigation) ?? 5
        self.agentTimeoutScale = try container.decodeIfPresent(Double.self, forKey: .agentTimeoutScale) ?? 1
        self.secondaryStorageDirectory = try container.decodeIfPresent(String.self, forKey: .secondaryStorageDirectory)
        self.maximumTemplateBytes = try container.decodeIfPresent(Int64.self, forKey: .maximumTemplateBytes) ?? 20 << 30
    }

    /// Reads a JSON config file.
    public static func load(path: String) throws -> ServerConfiguration {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try JSONDecoder().decode(ServerConfiguration.self, from: data)
    }

    var resolvedDatabasePath: String {
        databasePath ?? (dataDirectory as NSString).appendingPathComponent("lunar.db")
    }
}
