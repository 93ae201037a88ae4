import Foundation
import LunarModel

/// Everything that crosses the server⇄agent WebSocket, one JSON text message each.
///
/// The agent speaks first (`register`); the server answers `registered` or `refused` (and closes).
/// After that the server sends `command`s with ids and the agent answers each id exactly once;
/// the agent sends `heartbeat`s on its own.
public enum AgentMessage: Codable, Sendable, Equatable {
    case register(AgentRegistration)
    case registered(RegistrationAccepted)
    case refused(reason: String)
    case heartbeat(AgentHeartbeat)
    case command(id: UInt64, command: AgentCommand)
    case answer(id: UInt64, answer: AgentAnswer)

    /// Messages larger than this are refused by both sides (a VM's migration state included).
    public static let maximumBytes = 4 << 20

    public func encoded() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    public static func decode(_ text: String) throws -> AgentMessage {
        guard text.utf8.count <= maximumBytes else { throw AgentWireError.messageTooLarge(text.utf8.count) }
        return try JSONDecoder().decode(AgentMessage.self, from: Data(text.utf8))
    }
}

/// Why a message could not be read.
public enum AgentWireError: Error, Equatable, CustomStringConvertible {
    case messageTooLarge(Int)

    public var description: String {
        switch self {
        case .messageTooLarge(let bytes): "agent message of \(bytes) bytes exceeds \(AgentMessage.maximumBytes)"
        }
    }
}
