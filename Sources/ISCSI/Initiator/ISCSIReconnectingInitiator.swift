import Logging
import NIOCore
import NIOPosix

/// An initiator that survives a lost connection: when the session drops, the next command logs
/// in again (with backoff, a bounded number of times) and is sent on the new session. Commands
/// that were in flight when the connection dropped are re-sent once; block reads and writes are
/// idempotent, which is what the VMs and load generators issue.
public actor ISCSIReconnectingInitiator {
    public let host: String
    public let port: Int
    public let configuration: ISCSIInitiatorSession.Configuration
    /// Logins tried per command before giving up.
    public let maximumAttempts: Int
    let backoff: Duration
    let logger: Logger
    let group: any EventLoopGroup
    var session: ISCSIInitiatorSession?
    var login: Task<ISCSIInitiatorSession, any Error>?
    /// How many times a session had to be made again.
    public private(set) var reconnections = 0

    public init(
        host: String, port: Int, configuration: ISCSIInitiatorSession.Configuration, maximumAttempts: Int = 5, backoff: Duration = .milliseconds(100),
        logger: Logger = Logger(label: "iscsi.initiator"), group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        precondition(maximumAttempts >= 1)
        self.host = host
        self.port = port
        self.configuration = configuration
        self.maximumAttempts = maximumAttempts
        self.backoff = backoff
        self.logger = logger
        self.group = group
    }

    /// The live session, logging in when there is none (one login at a time).
    public func currentSession() async throws -> ISCSIInitiatorSession {
        if let session, session.channel.isActive { return session }
        if let login { return try await login.value }
        let wasConnected = session != nil
        session = nil
        let task = Task { [host, port, configuration, logger, group] in
            let fresh = try await ISCSIInitiatorSession.login(host: host, port: port, configuration: configuration, logger: logger, group: group)
            try await fresh.clearUnitAttentions()
            return fresh
        }
        login = task
        defer { login = nil }
        let fresh = try await task.value
        session = fresh
        if wasConnected {
            reconnections += 1
            logger.notice("iSCSI session re-established", metadata: ["iscsi.target": .string(configuration.targetName ?? "discovery")])
        }
        return fresh
    }

    /// Runs a command, logging in again when the connection is gone.
    public func execute(_ request: ISCSIInitiatorRequest) async throws -> ISCSICommandOutcome {
        var lastError: any Error = ISCSIInitiatorError.connectionClosed
        for attempt in 0..<maximumAttempts {
            if attempt > 0 { try await Task.sleep(for: backoff * attempt) }
            let session: ISCSIInitiatorSession
            do {
                session = try await currentSession()
            } catch {
                lastError = error
                continue
            }
            do {
                return try await session.execute(request)
            } catch ISCSIInitiatorError.connectionClosed {
                lastError = ISCSIInitiatorError.connectionClosed
                if self.session === session { self.session = nil }
            }
        }
        throw lastError
    }

    public func logout() async {
        await session?.logout()
        session = nil
    }
}
