import Foundation
import LunarServer
import Synchronization
import Testing

/// Hostile and stalled HTTP clients get an immediate, correct refusal and a closed connection; the
/// agents' WebSocket is not affected. Each test waits for the server's answer and EOF, never on how
/// fast they come.
@Suite struct HTTPHardeningTests {
    static let host = "Host: 127.0.0.1\r\n"
    static let allowed = "GET, HEAD, POST"

    /// Sends `request` on a fresh connection and reads until the server closes it.
    static func refusal(
        of request: [UInt8], configure: @escaping (inout ServerConfiguration) -> Void = { _ in }
    ) async throws -> RawConnection.Received {
        try await TestSupport.withServer(configure: configure) { (server: TestServer) async throws in
            let connection = try await RawConnection.open(port: server.port)
            try await connection.send(request)
            return try await connection.readUntilClosed()
        }
    }

    static func expectRefused(_ received: RawConnection.Received, status: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(received.replies.count == 1, "one answer: \(String(decoding: received.bytes, as: UTF8.self))", sourceLocation: sourceLocation)
        #expect(received.replies.first?.status == status, "\(received.statusLine ?? "no answer")", sourceLocation: sourceLocation)
        #expect(received.replies.first?.headers["connection"] == "close", sourceLocation: sourceLocation)
        #expect(received.closed, "the server closes the connection", sourceLocation: sourceLocation)
    }

    // MARK: bodies

    @Test func bodyAnnouncedOverTheLimitGets413BeforeItIsSent() async throws {
        let request = "POST /client/api HTTP/1.1\r\n\(Self.host)Content-Type: application/x-www-form-urlencoded\r\n"
            + "Content-Length: 100000000\r\n\r\ncommand=listZones"
        Self.expectRefused(try await Self.refusal(of: Array(request.utf8)), status: 413)
    }

    @Test func chunkedBodyGrowingPastTheLimitGets413() async throws {
        let request = "POST /client/api HTTP/1.1\r\n\(Self.host)Content-Type: application/x-www-form-urlencoded\r\n"
            + "Transfer-Encoding: chunked\r\n\r\n2000\r\n" + String(repeating: "a", count: 0x2000) + "\r\n"
        let received = try await Self.refusal(of: Array(request.utf8)) { $0.maximumBodyBytes = 4_096 }
        Self.expectRefused(received, status: 413)
    }

    // MARK: heads

    @Test func headerOverTheLimitGets431() async throws {
        let request = "GET /client/api HTTP/1.1\r\n\(Self.host)X-Filler: \(String(repeating: "a", count: 100_000))\r\n\r\n"
        Self.expectRefused(try await Self.refusal(of: Array(request.utf8)), status: 431)
    }

    @Test func manyHeadersOverTheLimitGet431() async throws {
        let headers = (0..<2_000).map { "X-Filler-\($0): \(String(repeating: "a", count: 30))\r\n" }.joined()
        let request = "GET /client/api HTTP/1.1\r\n\(Self.host)\(headers)\r\n"
        Self.expectRefused(try await Self.refusal(of: Array(request.utf8)), status: 431)
    }

    @Test func rawNonASCIIInTheTargetGets400() async throws {
        let request = Array("GET /client/api?command=listZones&name=".utf8) + [0xC3, 0xA9, 0xFF] + Array(" HTTP/1.1\r\n\(Self.host)\r\n".utf8)
        Self.expectRefused(try await Self.refusal(of: request), status: 400)
    }

    @Test func rawNonASCIIMethodGets400() async throws {
        let request = [0xC3, 0xA9, 0x80] + Array(" /client/api HTTP/1.1\r\n\(Self.host)\r\n".utf8)
        Self.expectRefused(try await Self.refusal(of: request), status: 400)
    }

    @Test func malformedRequestLineGets400() async throws {
        Self.expectRefused(try await Self.refusal(of: Array("GET /client/api HTTQ/1.1\r\n\(Self.host)\r\n".utf8)), status: 400)
    }

    @Test func tlsClientHelloGets400() async throws {
        // The start of a TLS 1.2 ClientHello record, as a client configured for https sends it.
        let hello: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0xF1, 0x01, 0x00, 0x00, 0xED, 0x03, 0x03] + (0..<32).map { UInt8($0 * 7 & 0xFF) }
            + [0x00, 0x00, 0x04, 0x13, 0x01, 0x13, 0x02, 0x01, 0x00]
        Self.expectRefused(try await Self.refusal(of: hello), status: 400)
    }

    // MARK: methods

    @Test func unknownMethodGets501WithAllow() async throws {
        let received = try await Self.refusal(of: Array("BREW / HTTP/1.1\r\n\(Self.host)\r\n".utf8))
        Self.expectRefused(received, status: 501)
        #expect(received.replies.first?.headers["allow"] == Self.allowed)
    }

    @Test func unservedMethodGets405WithAllow() async throws {
        let received = try await Self.refusal(of: Array("DELETE /client/api HTTP/1.1\r\n\(Self.host)\r\n".utf8))
        Self.expectRefused(received, status: 405)
        #expect(received.replies.first?.headers["allow"] == Self.allowed)
    }

    // MARK: keep-alive and pipelining

    @Test func pipelinedGarbageIsRefusedAfterTheAnswersBeforeIt() async throws {
        try await TestSupport.withServer { (server: TestServer) async throws in
            let connection = try await RawConnection.open(port: server.port)
            try await connection.send("GET /client/api?command=listCapabilities HTTP/1.1\r\n\(Self.host)\r\nBREW / HTTP/1.1\r\n\(Self.host)\r\n")
            let received = try await connection.readUntilClosed()
            #expect(received.replies.count == 2, "\(String(decoding: received.bytes, as: UTF8.self))")
            #expect(received.replies.first?.headers["content-type"]?.hasPrefix("application/json") == true, "the API answered the first request")
            #expect(received.replies.last?.status == 400)
            #expect(received.closed)
        }
    }

    @Test func keepAliveConnectionServesRequestsAfterAPause() async throws {
        // The header timeout is generous for a busy machine (the request is written at once); the
        // pause is longer than it: it times request heads, not the wait between requests.
        try await TestSupport.withServer(configure: { $0.httpHeaderTimeoutMilliseconds = 3_000 }) { (server: TestServer) async throws in
            let connection = try await RawConnection.open(port: server.port)
            let request = "GET /client/api?command=listCapabilities HTTP/1.1\r\n\(Self.host)\r\n"
            try await connection.send(request)
            let first = try await connection.readReplies(1)
            #expect(first.replies.count == 1 && !first.closed)
            try await Task.sleep(for: .milliseconds(4_000))
            try await connection.send(request)
            let second = try await connection.readReplies(1)
            #expect(second.replies.count == 1 && !second.closed)
            #expect(second.replies.first?.headers["content-type"]?.hasPrefix("application/json") == true)
        }
    }

    // MARK: timeouts
    // The timeouts these tests wait out are seconds, not tenths: the client must get its first
    // bytes to the server before the header timer ends, and on two busy cores a thread can wait
    // longer than 300 ms for its turn (then the server rightly closes a connection that said nothing).

    @Test func silentConnectionIsClosedAfterTheHeaderTimeout() async throws {
        try await TestSupport.withServer(configure: { $0.httpHeaderTimeoutMilliseconds = 300 }) { (server: TestServer) async throws in
            let connection = try await RawConnection.open(port: server.port)
            let received = try await connection.readUntilClosed()
            #expect(received.closed)
            #expect(received.bytes.isEmpty, "nothing was asked, so nothing is answered")
        }
    }

    @Test func slowLorisHeadersTimeOut() async throws {
        try await TestSupport.withServer(configure: { $0.httpHeaderTimeoutMilliseconds = 2_000 }) { (server: TestServer) async throws in
            let connection = try await RawConnection.open(port: server.port)
            try await connection.send("GET /client/api HTTP/1.1\r\n\(Self.host)")
            let stop = Mutex(false)
            let trickling = Task {
                await connection.trickle(Array("X-Slow: \(String(repeating: "a", count: 10_000))".utf8), every: .milliseconds(20)) {
                    stop.withLock { $0 }
                }
            }
            let received = try await connection.readUntilClosed()
            stop.withLock { $0 = true }
            await trickling.value
            Self.expectRefused(received, status: 408)
        }
    }

    @Test func idleKeepAliveConnectionIsClosed() async throws {
        try await TestSupport.withServer(configure: { $0.httpIdleTimeoutMilliseconds = 2_000 }) { (server: TestServer) async throws in
            let connection = try await RawConnection.open(port: server.port)
            try await connection.send("GET /client/api?command=listCapabilities HTTP/1.1\r\n\(Self.host)\r\n")
            let received = try await connection.readUntilClosed()
            #expect(received.replies.count == 1, "answered, then closed once idle")
            #expect(received.closed)
        }
    }

    // MARK: connection limit

    @Test func connectionsOverTheLimitAreRefused() async throws {
        try await TestSupport.withServer(configure: { $0.maximumConnections = 2 }) { (server: TestServer) async throws in
            let request = "GET /client/api?command=listCapabilities HTTP/1.1\r\n\(Self.host)\r\n"
            var held: [RawConnection] = []
            for _ in 0..<2 {
                let connection = try await RawConnection.open(port: server.port)
                try await connection.send(request)
                #expect(try await connection.readReplies(1).replies.count == 1)
                held.append(connection)
            }
            let extra = try await RawConnection.open(port: server.port)
            Self.expectRefused(try await extra.readUntilClosed(), status: 503)

            // A place frees up when a connection goes.
            held[0].shutdownWriting()
            #expect(try await held[0].readUntilClosed().closed)
            var served = false
            for _ in 0..<100 where !served {
                let next = try await RawConnection.open(port: server.port)
                try? await next.send(request)
                let received = try await next.readReplies(1)
                served = received.replies.first.map { $0.status != 503 } ?? false
                if !served { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(served)
        }
    }

    // MARK: agents

    @Test func agentWebSocketOutlivesTheHTTPTimeouts() async throws {
        try await TestSupport.withServer(configure: {
            $0.httpIdleTimeoutMilliseconds = 2_000
            $0.httpHeaderTimeoutMilliseconds = 2_000
        }) { (server: TestServer) async throws in
            let connection = try await RawConnection.open(port: server.port)
            try await connection.send(
                "GET /agent HTTP/1.1\r\n\(Self.host)Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            let upgraded = try await connection.read(until: { $0.firstRange(of: Array("\r\n\r\n".utf8)) != nil })
            #expect(upgraded.replies.first?.status == 101, "\(upgraded.statusLine ?? "no answer")")
            // Well past both HTTP timeouts: they must not apply to the WebSocket.
            try await Task.sleep(for: .seconds(3))
            guard let headerLength = upgraded.bytes.firstRange(of: Array("\r\n\r\n".utf8))?.upperBound else { return }
            let before = upgraded.bytes.count - headerLength
            // A masked, empty ping; the server answers with a pong.
            try await connection.send([0x89, 0x80, 0x01, 0x02, 0x03, 0x04])
            let reply = try await connection.read(until: { $0.count >= before + 2 }, limit: .seconds(30))
            #expect(!reply.closed, "the WebSocket is still open")
            #expect(Array(reply.bytes.prefix(2)) == [0x8A, 0x00], "\(reply.bytes)")
        }
    }
}
