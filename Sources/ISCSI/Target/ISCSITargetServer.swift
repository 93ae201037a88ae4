import Logging
import NIOCore
import NIOPosix
import Synchronization

/// An iSCSI target listening on a portal.
public final class ISCSITargetServer: Sendable {
    let channel: any Channel
    /// Who is logged in to what.
    public let sessions: ISCSISessionRegistry

    /// The port it listens on (useful with port 0).
    public var port: Int { channel.localAddress?.port ?? 0 }

    init(channel: any Channel, sessions: ISCSISessionRegistry) {
        self.channel = channel
        self.sessions = sessions
    }

    /// Binds `host:port` (0 picks a free port) and serves `catalog`.
    public static func start(
        host: String, port: Int, catalog: any ISCSITargetCatalog, limits: ISCSITargetLimits = ISCSITargetLimits(), logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, threadPool: NIOThreadPool = .singleton,
        admission: (any ISCSICommandAdmission)? = nil, throttle: ISCSILoginThrottle? = ISCSILoginThrottle()
    ) async throws -> ISCSITargetServer {
        let counter = TSIHCounter()
        let sessions = ISCSISessionRegistry()
        let connections = Atomic<Int>(0)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            // Reads up to 1 MiB at a time: a 1 MiB write arrives in a few reads, not sixteen.
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 4096, initial: 65_536, maximum: 1 << 20))
            .childChannelInitializer { channel in
                guard connections.add(1, ordering: .relaxed).newValue <= limits.maximumConnections else {
                    connections.subtract(1, ordering: .relaxed)
                    logger.warning("iSCSI connection refused: too many connections", metadata: ["iscsi.limit": .stringConvertible(limits.maximumConnections)])
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in connections.subtract(1, ordering: .relaxed) }
                return channel.eventLoop.makeCompletedFuture {
                    let box = ISCSIFramingBox()
                    var connectionLogger = logger
                    connectionLogger[metadataKey: "iscsi.peer"] = .string(channel.remoteAddress?.description ?? "-")
                    try channel.pipeline.syncOperations.addHandlers(
                        ByteToMessageHandler(ISCSIPDUDecoder(sharing: box), maximumBufferSize: 64 << 20),
                        ISCSIPDUWriter(sharing: box),
                        ISCSITargetConnectionHandler(
                            catalog: catalog, framing: box, limits: limits, logger: connectionLogger, threadPool: threadPool, registry: sessions,
                            admission: admission, throttle: throttle, assignTSIH: { counter.next() }
                        )
                    )
                }
            }
            .bind(host: host, port: port)
            .get()
        return ISCSITargetServer(channel: channel, sessions: sessions)
    }

    public func shutdown() async throws {
        try await channel.close()
    }
}

/// Session handles, never 0 (0 means "new session" on the wire).
final class TSIHCounter: Sendable {
    let value = Atomic<UInt16>(0)

    func next() -> UInt16 {
        while true {
            let next = value.wrappingAdd(1, ordering: .relaxed).newValue
            if next != 0 { return next }
        }
    }
}
