import Foundation
import Logging
import LunarSAN
import ServiceLifecycle

/// A whole storage node on 127.0.0.1 for tests (ports chosen by the system), run in-process in a
/// ServiceGroup for the length of `body`, then shut down gracefully.
public struct SANTestNode: Sendable {
    public var endpoints: SANNode.Endpoints
    public var token: String
    public var dataDirectory: String

    public static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// A fresh folder under the temporary directory.
    public static func folder() -> String {
        NSTemporaryDirectory() + "lunar-san-test-" + UUID().uuidString
    }

    /// Runs `body` against a node on `dataDirectory` (a fresh folder when nil). The node gets
    /// four I/O threads and a fixed capacity (no calibration) unless `configure` says otherwise.
    public static func run<T: Sendable>(
        dataDirectory: String? = nil, configure: (inout SANConfiguration) -> Void = { _ in }, _ body: @Sendable (SANTestNode) async throws -> T
    ) async throws -> T {
        let folder = dataDirectory ?? folder()
        var configuration = SANConfiguration(dataDirectory: folder)
        configuration.portalPort = 0
        configuration.adminPort = 0
        configuration.ioThreads = 4
        configuration.capacityIOPS = 1_000_000
        configure(&configuration)
        let (started, continuation) = AsyncStream.makeStream(of: SANNode.Endpoints.self)
        let app = try await SANNode.build(configuration: configuration, logger: quiet) { continuation.yield($0) }
        let group = ServiceGroup(services: [app], logger: quiet)
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = started.makeAsyncIterator()
            guard let endpoints = await iterator.next() else { throw SANError(.storageFailure, "the node did not start") }
            let token = try String(contentsOfFile: endpoints.tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            do {
                let result = try await body(SANTestNode(endpoints: endpoints, token: token, dataDirectory: folder))
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                return result
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
        }
    }
}
