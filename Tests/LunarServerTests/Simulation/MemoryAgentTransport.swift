import Logging
import LunarAgent
import LunarModel
import LunarServer
import LunarWire
import Synchronization

/// An agent's connection to an in-process server over memory: two bounded streams, one each way.
/// The server side is served in the same task group as the agent's session, so killing the agent
/// (cancelling its task) ends both, as a host crash ends its TCP connection.
struct MemoryAgentTransport: AgentTransport {
    let core: ServerCore
    let host: String
    let trace: Trace

    struct Closed: Error {}

    func connect(_ session: AgentSession, logger: Logger) async throws {
        let (toServer, serverInbox) = AsyncStream.makeStream(of: AgentMessage?.self, bufferingPolicy: .bufferingOldest(1_024))
        let (toAgent, agentInbox) = AsyncStream.makeStream(of: AgentMessage?.self, bufferingPolicy: .bufferingOldest(1_024))
        let close: @Sendable (String) async -> Void = { _ in
            serverInbox.finish()
            agentInbox.finish()
        }
        let (host, trace) = (self.host, self.trace)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await core.serveAgent(
                    toServer,
                    write: { message in
                        if case .command(_, let command) = message { trace.record("\(host) ← \(command.name)") }
                        guard case .enqueued = agentInbox.yield(message) else { throw Closed() }
                    },
                    close: close, logger: logger
                )
            }
            defer { serverInbox.finish() }
            try await session.run(
                toAgent,
                write: { message in guard case .enqueued = serverInbox.yield(message) else { throw Closed() } },
                close: close
            )
            serverInbox.finish()
            agentInbox.finish()
            try await group.waitForAll()
        }
    }
}

/// What the simulation did, in order: compared between two runs of one seed.
final class Trace: Sendable {
    private let lines = Mutex<[String]>([])
    func record(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}
