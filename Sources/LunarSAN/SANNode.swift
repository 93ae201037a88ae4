import Foundation
import Hummingbird
import ISCSI
import Logging
import LunarModel
import NIOPosix
import ServiceLifecycle

/// Builds a storage node: loads the volume store, binds the iSCSI portal, and returns the admin
/// API application that runs the target as one of its services. Tests call this too.
public enum SANNode {
    /// What a running node tells its caller.
    public struct Endpoints: Sendable {
        /// `host:port` of the iSCSI portal.
        public var portal: String
        /// The admin API base URL.
        public var admin: String
        /// The file holding the admin bearer token.
        public var tokenFile: String
    }

    public static func build(
        configuration: SANConfiguration, logger: Logger, onListening: @escaping @Sendable (Endpoints) async -> Void = { _ in }
    ) async throws -> some ApplicationProtocol {
        try configuration.validate()
        try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let token = try loadOrCreateToken(configuration.tokenFile)
        let capacity = try CapacityCalibration.capacity(configuration: configuration, logger: logger)
        let qos = QoSGate(capacity: capacity)
        let store = try VolumeStore(configuration: configuration, logger: logger, qos: qos)
        logger.info(
            "QoS", metadata: ["san.qos_enabled": .stringConvertible(capacity.enabled), "san.capacity_iops": .stringConvertible(capacity.capacityIOPS)]
        )

        let threadPool = NIOThreadPool(numberOfThreads: configuration.ioThreads)
        threadPool.start()
        let target: ISCSITargetServer
        do {
            target = try await ISCSITargetServer.start(
                host: configuration.portalHost, port: configuration.portalPort, catalog: store.catalog, logger: logger, threadPool: threadPool,
                admission: qos
            )
        } catch {
            try? await threadPool.shutdownGracefully()
            throw SANError(.invalidRequest, "cannot listen for iSCSI on \(configuration.portalHost):\(configuration.portalPort): \(error)")
        }
        await store.attach(sessions: target.sessions)
        let portal = "\(configuration.portalHost):\(target.port)"
        logger.info("iSCSI portal listening", metadata: ["san.portal": .string(portal)])

        let adminHost = configuration.adminHost
        let tokenFile = configuration.tokenFile
        return Application(
            router: SANAdminAPI.router(store: store, token: token, portal: portal),
            configuration: ApplicationConfiguration(address: .hostname(configuration.adminHost, port: configuration.adminPort), serverName: "Lunar SAN"),
            services: [ISCSITargetService(server: target, threadPool: threadPool)],
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.adminPort
                let admin = "http://\(adminHost):\(port)"
                logger.info("SAN admin API listening", metadata: ["san.admin": .string(admin)])
                await onListening(Endpoints(portal: portal, admin: admin, tokenFile: tokenFile))
            },
            logger: logger
        )
    }

    /// The admin token: read from its file, or made (256 random bits) and written with mode 0600.
    static func loadOrCreateToken(_ path: String) throws -> String {
        if let data = FileManager.default.contents(atPath: path), let token = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines),
            !token.isEmpty
        {
            return token
        }
        var generator = SystemRandomNumberGenerator()
        let token = Base64URL.encode((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
        try DurableFile.write(Data((token + "\n").utf8), to: path, permissions: 0o600)
        return token
    }
}

/// Runs the iSCSI target until graceful shutdown, then closes the portal and the I/O threads.
struct ISCSITargetService: Service {
    let server: ISCSITargetServer
    let threadPool: NIOThreadPool

    func run() async throws {
        try? await gracefulShutdown()
        try? await server.shutdown()
        try? await threadPool.shutdownGracefully()
    }
}
