import Foundation

/// Where a storage node keeps its volumes and where it listens. Loaded from a JSON file
/// (`lunar san --config`); flags override it.
public struct SANConfiguration: Codable, Sendable, Hashable {
    /// The data folder: volumes live in `<data>/san/volumes`, the admin token in `<data>/san-admin-token`.
    public var dataDirectory: String
    public var portalHost = "127.0.0.1"
    /// The iSCSI portal port; 0 picks a free one.
    public var portalPort = 3260
    public var adminHost = "127.0.0.1"
    /// The admin API port; 0 picks a free one.
    public var adminPort = 8090
    /// Targets are named `<iqnPrefix>:<volume>`.
    public var iqnPrefix = "iqn.2026-11.org.lunar"
    /// Threads doing volume I/O (reads, writes, fdatasync block).
    public var ioThreads = 16
    /// The largest volume the node creates.
    public var maximumVolumeBytes: UInt64 = 64 << 40
    /// The most volumes the node holds.
    public var maximumVolumes = 4096
    /// The node's capacity in 4 KiB-equivalent IOPS; nil: measured at first start and kept in
    /// `<data>/san/capacity.json`.
    public var capacityIOPS: Int?
    /// QoS off starts every command at once (comparison runs); it can be switched live.
    public var qosEnabled = true
    /// When set, discovery sessions must pass CHAP with this account's secrets (fail closed while
    /// the account does not exist).
    public var discoveryAccount: String?

    public init(dataDirectory: String) {
        self.dataDirectory = dataDirectory
    }

    enum CodingKeys: String, CodingKey {
        case dataDirectory = "data"
        case portalHost = "portal_host"
        case portalPort = "portal_port"
        case adminHost = "admin_host"
        case adminPort = "admin_port"
        case iqnPrefix = "iqn_prefix"
        case ioThreads = "io_threads"
        case maximumVolumeBytes = "maximum_volume_bytes"
        case maximumVolumes = "maximum_volumes"
        case capacityIOPS = "capacity_iops"
        case qosEnabled = "qos_enabled"
        case discoveryAccount = "discovery_account"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(dataDirectory: try container.decodeIfPresent(String.self, forKey: .dataDirectory) ?? "./lunar-data")
        portalHost = try container.decodeIfPresent(String.self, forKey: .portalHost) ?? portalHost
        portalPort = try container.decodeIfPresent(Int.self, forKey: .portalPort) ?? portalPort
        adminHost = try container.decodeIfPresent(String.self, forKey: .adminHost) ?? adminHost
        adminPort = try container.decodeIfPresent(Int.self, forKey: .adminPort) ?? adminPort
        iqnPrefix = try container.decodeIfPresent(String.self, forKey: .iqnPrefix) ?? iqnPrefix
        ioThreads = try container.decodeIfPresent(Int.self, forKey: .ioThreads) ?? ioThreads
        maximumVolumeBytes = try container.decodeIfPresent(UInt64.self, forKey: .maximumVolumeBytes) ?? maximumVolumeBytes
        maximumVolumes = try container.decodeIfPresent(Int.self, forKey: .maximumVolumes) ?? maximumVolumes
        capacityIOPS = try container.decodeIfPresent(Int.self, forKey: .capacityIOPS)
        qosEnabled = try container.decodeIfPresent(Bool.self, forKey: .qosEnabled) ?? qosEnabled
        discoveryAccount = try container.decodeIfPresent(String.self, forKey: .discoveryAccount)
    }

    public static func load(path: String) throws -> SANConfiguration {
        guard let data = FileManager.default.contents(atPath: path) else { throw SANError(.invalidRequest, "cannot read \(path)") }
        return try JSONDecoder().decode(SANConfiguration.self, from: data)
    }

    public var volumesDirectory: String { (dataDirectory as NSString).appendingPathComponent("san/volumes") }
    public var tokenFile: String { (dataDirectory as NSString).appendingPathComponent(Self.tokenFileName) }
    public var accountsFile: String { (dataDirectory as NSString).appendingPathComponent("san/accounts.json") }
    public var secretKeyFile: String { (dataDirectory as NSString).appendingPathComponent("san/secrets.key") }
    public var groupsFile: String { (dataDirectory as NSString).appendingPathComponent("san/groups.json") }
    public var capacityFile: String { (dataDirectory as NSString).appendingPathComponent("san/capacity.json") }

    public static let tokenFileName = "san-admin-token"

    /// Checks what a file or flags could get wrong, with a sentence.
    public func validate() throws {
        guard (0...65535).contains(portalPort), (0...65535).contains(adminPort) else { throw SANError(.invalidRequest, "ports must be 0 to 65535") }
        guard (1...256).contains(ioThreads) else { throw SANError(.invalidRequest, "io_threads must be 1 to 256") }
        if let capacityIOPS, !(100...10_000_000).contains(capacityIOPS) {
            throw SANError(.invalidRequest, "capacity_iops must be 100 to 10,000,000")
        }
        guard iqnPrefix.hasPrefix("iqn."), ISCSIPrefixCheck.valid(iqnPrefix) else {
            throw SANError(.invalidRequest, "iqn_prefix must be an iSCSI qualified name such as iqn.2026-11.org.example")
        }
    }
}
