import Logging
import LunarModel
import LunarWire

/// The server's side of every agent connection: sends commands to a host's agent and waits (with
/// a timeout) for the answer. One live session per host; a newer registration replaces an older.
public actor AgentGateway {
    struct Session {
        let token: UInt64
        let send: @Sendable (AgentMessage) -> Void
        var pending: [UInt64: CheckedContinuation<AgentAnswer, any Error>] = [:]
        /// When it was last heard, on `readings`.
        var lastHeard: Duration
    }

    var sessions: [HostID: Session] = [:]
    var nextID: UInt64 = 1
    let logger: Logger
    /// Multiplies every command's timeout (tests shorten them).
    let timeoutScale: Double
    /// What command timeouts sleep on.
    let clock: any Clock<Duration>
    /// The same clock, read for "last heard".
    let readings: ClockReader

    public init(logger: Logger, clock: any Clock<Duration> = ContinuousClock(), timeoutScale: Double = 1) {
        self.logger = logger
        self.clock = clock
        self.readings = ClockReader(clock)
        self.timeoutScale = timeoutScale
    }

    /// Starts a session for `host`; returns its token for the later calls.
    func open(host: HostID, send: @escaping @Sendable (AgentMessage) -> Void) -> UInt64 {
        let token = nextID
        nextID += 1
        if let old = sessions.removeValue(forKey: host) { fail(old, AgentCallError.disconnected(host)) }
        sessions[host] = Session(token: token, send: send, lastHeard: readings.now)
        return token
    }

    /// Ends a session (its connection closed); pending calls fail.
    /// - Returns: whether it was the host's current session.
    @discardableResult
    func close(host: HostID, token: UInt64) -> Bool {
        guard let session = sessions[host], session.token == token else { return false }
        sessions[host] = nil
        fail(session, AgentCallError.disconnected(host))
        return true
    }

    func heard(host: HostID, token: UInt64) {
        guard sessions[host]?.token == token else { return }
        sessions[host]?.lastHeard = readings.now
    }

    func answer(host: HostID, token: UInt64, id: UInt64, _ answer: AgentAnswer) {
        guard sessions[host]?.token == token, let continuation = sessions[host]?.pending.removeValue(forKey: id) else { return }
        sessions[host]?.lastHeard = readings.now
        continuation.resume(returning: answer)
    }

    public func isConnected(_ host: HostID) -> Bool { sessions[host] != nil }

    var sweeping: Set<HostID> = []
    /// VMs the database says run on a host that its last heartbeat did not report.
    var missing: [HostID: Set<VirtualMachineID>] = [:]

    /// Records which VMs this beat missed; returns those the previous beat missed too.
    func missedTwice(_ host: HostID, now: Set<VirtualMachineID>) -> Set<VirtualMachineID> {
        let before = missing[host] ?? []
        missing[host] = now
        return now.intersection(before)
    }

    /// At most one heartbeat sweep per host at a time; a beat during one is skipped.
    func beginSweep(_ host: HostID) -> Bool { sweeping.insert(host).inserted }
    func endSweep(_ host: HostID) { sweeping.remove(host) }

    public func connectedHosts() -> Set<HostID> { Set(sessions.keys) }

    /// How long since the host's agent was last heard, or nil when it is not connected.
    public func silence(of host: HostID) -> Duration? {
        sessions[host].map { readings.now - $0.lastHeard }
    }

    /// Sends `command` to the host's agent and returns its result.
    /// - Throws: `AgentCallError` when the agent is not connected, does not answer in time, or fails.
    public func call(_ command: AgentCommand, on host: HostID) async throws -> AgentResult {
        guard sessions[host] != nil else { throw AgentCallError.disconnected(host) }
        let id = nextID
        nextID += 1
        let timeout = Duration.seconds(Double(command.timeoutSeconds) * timeoutScale)
        let clock = self.clock
        // The answer races the timeout in one task group: whichever ends first ends the other,
        // and nothing outlives the call.
        let answer: AgentAnswer = try await withThrowingTaskGroup(of: AgentAnswer?.self) { group in
            group.addTask { try await self.send(command, id: id, to: host) }
            group.addTask {
                do {
                    try await clock.sleep(for: timeout)
                    await self.expire(host: host, id: id, with: AgentCallError.timedOut(host, command.name))
                } catch {
                    // The answer came first (then this finds nothing pending) or the caller was cancelled.
                    await self.expire(host: host, id: id, with: CancellationError())
                }
                return nil
            }
            while let next = try await group.next() {
                if let answer = next {
                    group.cancelAll()
                    return answer
                }
            }
            throw AgentCallError.timedOut(host, command.name)
        }
        switch answer {
        case .done(let result): return result
        case .failed(let failure): throw AgentCallError.failed(host, command.name, failure)
        }
    }

    /// Sends `command` and waits for its answer (or for `expire`, or the session's end).
    private func send(_ command: AgentCommand, id: UInt64, to host: HostID) async throws -> AgentAnswer {
        try await withCheckedThrowingContinuation { continuation in
            guard let session = sessions[host] else {
                continuation.resume(throwing: AgentCallError.disconnected(host))
                return
            }
            sessions[host]?.pending[id] = continuation
            session.send(.command(id: id, command: command))
        }
    }

    func expire(host: HostID, id: UInt64, with error: any Error) {
        guard let continuation = sessions[host]?.pending.removeValue(forKey: id) else { return }
        continuation.resume(throwing: error)
    }

    private func fail(_ session: Session, _ error: AgentCallError) {
        for continuation in session.pending.values { continuation.resume(throwing: error) }
    }
}

/// Why a command to an agent did not succeed.
public enum AgentCallError: Error, CustomStringConvertible, Equatable {
    case disconnected(HostID)
    case timedOut(HostID, String)
    case failed(HostID, String, AgentFailure)

    public var description: String {
        switch self {
        case .disconnected(let host): "the agent of host \(host) is not connected"
        case .timedOut(let host, let command): "the agent of host \(host) did not answer \(command) in time"
        case .failed(_, let command, let failure): "\(command) failed on the host: \(failure.message)"
        }
    }

    /// Whether the agent said no (as opposed to not being reachable: then the outcome is unknown).
    public var isRefusal: Bool {
        if case .failed = self { return true }
        return false
    }
}
