import Foundation

/// What an agent needs to know to join a server.
public struct AgentConfiguration: Sendable {
    /// `ws://HOST:PORT/agent`.
    public var serverURL: String
    public var token: String
    public var hostName: String
    public var ipAddress: String
    public var initiatorIQN: String
    public var cluster: String?
    public var cpuCores: Int = 4
    public var cpuSpeedMHz: Int = 2000
    public var memoryBytes: Int64 = 16 << 30
    /// First reconnect delay; doubles to `maximumBackoff`, with jitter.
    public var initialBackoff: Duration = .milliseconds(200)
    public var maximumBackoff: Duration = .seconds(5)
    /// Commands carried out at once; more wait.
    public var maximumConcurrentCommands = 64

    public init(serverURL: String, token: String, hostName: String, ipAddress: String = "127.0.0.1", initiatorIQN: String, cluster: String? = nil) {
        self.serverURL = serverURL
        self.token = token
        self.hostName = hostName
        self.ipAddress = ipAddress
        self.initiatorIQN = initiatorIQN
        self.cluster = cluster
    }
}
