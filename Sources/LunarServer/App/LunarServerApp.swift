import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import LunarModel
import LunarStorage
import LunarWire
import NIOCore
import ServiceLifecycle

/// Builds the management server: opens the database (migrating it), makes the root admin on first
/// start, recovers unfinished jobs, and returns the Hummingbird application. Tests call this too.
public enum LunarServerApp {
    /// - Parameters:
    ///   - configuration: where to keep data and where to listen.
    ///   - time: the wall clock (fixed in tests).
    ///   - extraCommands: commands added to the table (tests use it to reach failure paths).
    ///   - onListening: called with the bound port once the server accepts connections.
    public static func build(
        configuration: ServerConfiguration,
        time: any TimeSource = SystemTimeSource(),
        clock: any Clock<Duration> = ContinuousClock(),
        extraCommands: [APICommand] = [],
        extraProviders: [any StorageProvider] = [],
        stepFaults: (any StepFaults)? = nil,
        logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws -> some ApplicationProtocol {
        try DataFolder(path: configuration.dataDirectory).create()
        let database = try await Database.openSQLite(path: configuration.resolvedDatabasePath, logger: logger)
        let core = try await ServerCore.make(
            configuration: configuration, database: database, time: time, clock: clock, extraCommands: extraCommands,
            extraProviders: extraProviders, stepFaults: stepFaults, logger: logger
        )
        let (folder, endpoint, dispatcher) = (core.folder, core.endpoint, core.dispatcher)
        let router = Router(context: BasicRequestContext.self)
        let maximumBodyBytes = configuration.maximumBodyBytes
        let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            try await respond(to: request, dispatcher: dispatcher, maximumBodyBytes: maximumBodyBytes)
        }
        router.get("/client/api", use: handler)
        router.post("/client/api", use: handler)

        let bindAddress = configuration.bindAddress
        // Hostile or stalled clients get a quick refusal and a closed connection (GuardedHTTPChannel).
        let gate = ConnectionGate(limit: configuration.maximumConnections)
        let http1 = HTTP1Channel.Configuration(
            // Applies to HTTP connections only: an upgraded agent WebSocket never gets this timer.
            idleTimeout: configuration.httpIdleTimeoutMilliseconds > 0 ? .milliseconds(Int64(configuration.httpIdleTimeoutMilliseconds)) : nil,
            httpDecoderConfiguration: .init(maxHeaderFieldSize: configuration.maximumHeaderBytes, maxHeaderListSize: configuration.maximumHeaderBytes)
        )
        let headerTimeout = configuration.httpHeaderTimeoutMilliseconds > 0 ? TimeAmount.milliseconds(Int64(configuration.httpHeaderTimeoutMilliseconds)) : nil
        let httpServer = HTTPServerBuilder { responder in
            GuardedHTTPChannel(
                inner: HTTP1WebSocketUpgradeChannel(
                    responder: responder,
                    configuration: .init(http1: http1, ws: .init(maxFrameSize: AgentMessage.maximumBytes))
                ) { request, _, _ in
                    // Agents connect to /agent; everything else is the API.
                    guard request.path == "/agent" else { return .dontUpgrade }
                    return .upgrade([:]) { inbound, outbound, context in
                        try await endpoint.serve(inbound: inbound, outbound: outbound, logger: context.logger)
                    }
                },
                maximumBodyBytes: maximumBodyBytes, headerTimeout: headerTimeout, gate: gate
            )
        }
        return Application(
            router: router,
            server: httpServer,
            configuration: ApplicationConfiguration(address: .hostname(configuration.bindAddress, port: configuration.port), serverName: "Lunar"),
            services: [DatabaseService(database: database), core.server.jobs, core.monitor, core.server.templates],
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                do {
                    try folder.updateEndpoints {
                        $0.api = "http://\(bindAddress):\(port)/client/api"
                        $0.agent = "ws://\(bindAddress):\(port)/agent"
                    }
                } catch {
                    logger.error("could not write endpoints.json", metadata: ["error": .string("\(error)")])
                }
                logger.info("API listening", metadata: ["api.url": .string("http://\(bindAddress):\(port)/client/api")])
                await onListening(port)
            },
            logger: logger
        )
    }

    static let descriptionHeader = HTTPField.Name("X-Description")!

    static func respond(to request: Request, dispatcher: APIDispatcher, maximumBodyBytes: Int) async throws -> Response {
        let response: APIDispatcher.Response
        do {
            var raw = try FormDecoding.parse(request.uri.query.map { Substring($0) } ?? "")
            if request.method == .post {
                let body = try await request.body.collect(upTo: maximumBodyBytes)
                let contentType = request.headers[.contentType] ?? ""
                if body.readableBytes > 0 {
                    guard contentType.lowercased().hasPrefix("application/x-www-form-urlencoded") else {
                        throw LunarError(.parameterError, "POST bodies must be application/x-www-form-urlencoded")
                    }
                    raw += try FormDecoding.parse(Substring(String(buffer: body)))
                }
            }
            response = await dispatcher.dispatch(raw)
        } catch let error as LunarError {
            response = APIDispatcher.errorResponse(error, key: "errorresponse")
        } catch {
            // A body over the limit (or a broken connection) ends here.
            response = APIDispatcher.errorResponse(
                LunarError(.parameterError, "malformed request: the body is larger than \(maximumBodyBytes) bytes or could not be read"),
                key: "errorresponse"
            )
        }
        var headers: HTTPFields = [.contentType: "application/json; charset=UTF-8"]
        for cookie in response.cookies { headers.append(HTTPField(name: .setCookie, value: cookie)) }
        if let description = response.errorDescription {
            // Header values cannot carry line breaks or non-ASCII safely.
            headers[descriptionHeader] = String(description.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 ? Character($0) : "?" })
        }
        return Response(
            status: HTTPResponse.Status(code: response.status),
            headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(string: response.body))
        )
    }
}

/// Keeps the database open for the application's life and closes it last at shutdown.
struct DatabaseService: Service {
    let database: Database

    func run() async throws {
        do {
            try await awaitGracefulShutdown()
        } catch {
            // Cancelled (a sibling service failed): close all the same.
        }
        await database.close()
    }
}
