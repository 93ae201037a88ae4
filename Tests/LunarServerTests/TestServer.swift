import AsyncHTTPClient
import Foundation
import Logging
import LunarClient
import LunarModel
import LunarServer
import LunarStorage
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// A management server running in this process on 127.0.0.1 with a free port, reached over real
/// HTTP, with the admin's client ready.
struct TestServer: Sendable {
    let port: Int
    let dataDirectory: String
    let admin: LunarAPIClient

    var endpoint: String { "http://127.0.0.1:\(port)/client/api" }

    /// A client signing with other keys (or the admin's with a different clock).
    func client(keys: UserKeys, time: any TimeSource = SystemTimeSource()) -> LunarAPIClient {
        LunarAPIClient(endpoint: endpoint, keys: keys, time: time)
    }

    struct RawResponse {
        let status: Int
        let headers: [(String, String)]
        let text: String

        var json: JSONObject? { (try? JSONValue.parse(text))?.objectValue }
        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    }

    /// Sends exactly the bytes given, for malformed and hand-signed requests.
    func raw(method: HTTPMethod = .GET, query: String, body: String? = nil, contentType: String? = nil) async throws -> RawResponse {
        var request = HTTPClientRequest(url: endpoint + (query.isEmpty ? "" : "?" + query))
        request.method = method
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        if let body { request.body = .bytes(ByteBuffer(string: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 16 << 20)
        return RawResponse(
            status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, text: String(buffer: bytes)
        )
    }

    /// A signed query string for hand-made requests.
    func signedQuery(_ parameters: [(name: String, value: String)], keys: UserKeys) -> String {
        let signature = CloudStackSignature.sign(parameters, secretKey: keys.secretKey)
        return (parameters + [("signature", signature)]).map { "\(CloudStackSignature.encode($0.name))=\(CloudStackSignature.encode($0.value))" }
            .joined(separator: "&")
    }

    /// Creates an account and returns its user's keys.
    func makeAccount(_ name: String, admin isAdmin: Bool = false) async throws -> (accountID: String, userID: String, keys: UserKeys) {
        let reply = try await admin.call(
            "createAccount",
            ["username": name, "password": "pw-\(name)", "email": "\(name)@example.org", "firstname": name, "lastname": "Test",
             "accounttype": isAdmin ? "1" : "0"]
        )
        let account = try #require(reply["account"]?.objectValue)
        let userID = try #require(account["user"]?.arrayValue?.first?["id"]?.stringValue)
        let keys = try await admin.call("registerUserKeys", ["id": userID])["userkeys"]?.objectValue
        return (
            try #require(account["id"]?.stringValue), userID,
            UserKeys(apiKey: try #require(keys?["apikey"]?.stringValue), secretKey: try #require(keys?["secretkey"]?.stringValue))
        )
    }
}

import Testing

enum TestSupport {
    static let quietLogger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    static func temporaryDirectory() -> String {
        let path = NSTemporaryDirectory() + "lunar-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Runs a server for the length of `body`, then shuts it down gracefully.
    static func withServer<T: Sendable>(
        dataDirectory: String? = nil,
        time: any TimeSource = SystemTimeSource(),
        extraCommands: [APICommand] = [],
        extraProviders: [any StorageProvider] = [],
        stepFaults: (any StepFaults)? = nil,
        configure: (inout ServerConfiguration) -> Void = { _ in },
        logger: Logger = quietLogger,
        _ body: @Sendable (TestServer) async throws -> T
    ) async throws -> T {
        let directory = dataDirectory ?? temporaryDirectory()
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        var configuration = ServerConfiguration(dataDirectory: directory, port: 0)
        configure(&configuration)
        let app = try await LunarServerApp.build(
            configuration: configuration, time: time, extraCommands: extraCommands,
            extraProviders: extraProviders, stepFaults: stepFaults, logger: logger
        ) { port in portContinuation.yield(port) }
        let group = ServiceGroup(services: [app], logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw LunarError(.internalError, "server did not start") }
            let keysData = try Data(contentsOf: URL(fileURLWithPath: directory + "/admin-keys.json"))
            let keys = try JSONDecoder().decode(UserKeys.self, from: keysData)
            let server = TestServer(port: port, dataDirectory: directory, admin: LunarAPIClient(endpoint: "http://127.0.0.1:\(port)/client/api", keys: keys))
            do {
                let result = try await body(server)
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

    /// The API error a call fails with.
    static func apiError(_ body: () async throws -> Void) async -> LunarError? {
        do {
            try await body()
            return nil
        } catch LunarClientError.api(let error) {
            return error
        } catch {
            Issue.record("expected an API error, got \(error)")
            return nil
        }
    }
}
