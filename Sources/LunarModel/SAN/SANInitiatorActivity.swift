/// What a SAN node saw of one initiator lately: its sessions and how long since any of them sent a
/// command (nil: none ever did). The server's HA investigation reads it.
public struct SANInitiatorActivity: Codable, Sendable, Equatable {
    public var initiator: String
    public var sessions: Int
    public var idleMilliseconds: Int?

    public init(initiator: String, sessions: Int, idleMilliseconds: Int?) {
        self.initiator = initiator
        self.sessions = sessions
        self.idleMilliseconds = idleMilliseconds
    }

    enum CodingKeys: String, CodingKey {
        case initiator, sessions
        case idleMilliseconds = "idle_ms"
    }
}
