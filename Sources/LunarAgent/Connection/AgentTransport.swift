import HummingbirdWSClient
import Logging
import LunarWire

/// How an agent reaches its server: a WebSocket in production, memory in deterministic
/// simulations. `connect` makes one connection and hands it to `session` until it ends.
public protocol AgentTransport: Sendable {
    func connect(_ session: AgentSession, logger: Logger) async throws
}

/// The agent's WebSocket to `ws://HOST:PORT/agent`.
public struct WebSocketAgentTransport: AgentTransport {
    public let url: String

    public init(url: String) { self.url = url }

    public func connect(_ session: AgentSession, logger: Logger) async throws {
        var configuration = WebSocketClientConfiguration()
        configuration.maxFrameSize = AgentMessage.maximumBytes
        try await WebSocketClient.connect(url: url, configuration: configuration, logger: logger) { inbound, outbound, _ in
            let messages = inbound.messages(maxSize: AgentMessage.maximumBytes).map { frame -> AgentMessage? in
                guard case .text(let text) = frame else { return nil }
                return try? AgentMessage.decode(text)
            }
            try await session.run(
                messages,
                write: { message in try await outbound.write(.text(try message.encoded())) },
                close: { reason in
                    do {
                        try await outbound.close(.goingAway, reason: reason)
                    } catch {
                        // Closed by the server already.
                    }
                }
            )
        }
    }
}
