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
    let slot: ServerSlot
    let host: String
    let trace: Trace

    struct Closed: Error {}

    func connect(_ session: AgentSession, logger: Logger) async throws {
        let (toServer, serverInbox) = AsyncStream.makeStream(of: AgentMessage?.self, bufferingPolicy: .bufferingOldest(1_024))
        let (toAgent, agentInbox) = AsyncStream.makeStream(of: AgentMessage?.self, bufferingPolicy: .bufferingOldest(1_024))
        let cut: @Sendable () -> Void = {
            serverInbox.finish()
            agentInbox.finish()
        }
        let close: @Sendable (String) async -> Void = { _ in cut() }
        // No server running (it died and is not back yet): the connection is refused.
        guard let (core, link) = slot.attach(cut) else { throw Closed() }
        defer { slot.detach(link) }
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

/// Where agents connect: the server process now running, or none while it is down. A server that
/// dies cuts every connection it had, as a crash resets its sockets.
final class ServerSlot: Sendable {
    private struct State {
        var core: ServerCore?
        var links: [UInt64: @Sendable () -> Void] = [:]
        var next: UInt64 = 0
    }

    private let state: Mutex<State>

    init(_ core: ServerCore?) { state = Mutex(State(core: core)) }

    var core: ServerCore? { state.withLock { $0.core } }

    /// Puts `core` in place (nil: down), cutting the connections of the one before.
    func replace(with core: ServerCore?) {
        let cuts = state.withLock { state -> [@Sendable () -> Void] in
            state.core = core
            defer { state.links = [:] }
            return state.links.sorted { $0.key < $1.key }.map(\.value)
        }
        for cut in cuts { cut() }
    }

    func attach(_ cut: @escaping @Sendable () -> Void) -> (ServerCore, UInt64)? {
        state.withLock { state in
            guard let core = state.core else { return nil }
            state.next += 1
            state.links[state.next] = cut
            return (core, state.next)
        }
    }

    func detach(_ link: UInt64) { _ = state.withLock { $0.links.removeValue(forKey: link) } }
}
