import Logging
import NIOCore
import NIOPosix
import Synchronization

/// An iSCSI target listening on a portal.
public final class ISCSITargetServer: Sendable {
    let channel: any Channel

    /// The port it listens on (useful with port 0).
    public var port: Int { channel.localAddress?.port ?? 0 }

    init(channel: any Channel) {
        self.channel = channel
    }

    /// Binds `host:port` (0 picks a free port) and serves `catalog`.
    public static func start(
        host: String, port: Int, catalog: any ISCSITargetCatalog, limits: ISCSITargetLimits = ISCSITargetLimits(), logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> ISCSITargetServer {
        let counter = TSIHCounter()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let box = ISCSIFramingBox()
                    var connectionLogger = logger
                    connectionLogger[metadataKey: "iscsi.peer"] = .string(channel.remoteAddress?.description ?? "-")
                    try channel.pipeline.syncOperations.addHandlers(
                        ByteToMessageHandler(ISCSIPDUDecoder(sharing: box), maximumBufferSize: 64 << 20),
                        MessageToByteHandler(ISCSIPDUEncoder(sharing: box)),
                        ISCSITargetConnectionHandler(catalog: catalog, framing: box, limits: limits, logger: connectionLogger, assignTSIH: { counter.next() })
                    )
                }
            }
            .bind(host: host, port: port)
            .get()
        return ISCSITargetServer(channel: channel)
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
