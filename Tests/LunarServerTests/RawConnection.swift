import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A plain TCP connection to a test server, for bytes no HTTP client would send. Each blocking call
/// runs on a thread of its own, so the server's tasks (on the same small cooperative pool) never wait
/// behind a test blocked in `recv`.
final class RawConnection: Sendable {
    struct SocketError: Error, CustomStringConvertible {
        let call: String
        let code: Int32
        var description: String { "\(call): \(String(cString: strerror(code)))" }
    }

    /// What came back, and whether the server closed its end (EOF, or a reset after it).
    struct Received: Sendable {
        var bytes: [UInt8] = []
        var closed = false

        var replies: [Reply] { Reply.parse(bytes) }
        var statusLine: String? { replies.first?.statusLine }
    }

    /// One HTTP response found in the bytes received.
    struct Reply: Sendable {
        let statusLine: String
        let headers: [String: String]

        var status: Int? { statusLine.split(separator: " ").dropFirst().first.flatMap { Int($0) } }

        static func parse(_ bytes: [UInt8]) -> [Reply] {
            var replies: [Reply] = []
            var rest = bytes[...]
            while let end = rest.firstRange(of: Array("\r\n\r\n".utf8)) {
                let lines = String(decoding: rest[rest.startIndex..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
                var headers: [String: String] = [:]
                for line in lines.dropFirst() {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
                let length = headers["content-length"].flatMap { Int($0) } ?? 0
                guard rest.distance(from: end.upperBound, to: rest.endIndex) >= length else { break }
                replies.append(Reply(statusLine: lines[0], headers: headers))
                rest = rest[(end.upperBound + length)...]
            }
            return replies
        }
    }

    let descriptor: Int32

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit {
        _ = Self.closeDescriptor(descriptor)
    }

    static func open(port: Int) async throws -> RawConnection {
        try await onThread {
            #if canImport(Glibc)
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            #else
            let descriptor = socket(AF_INET, SOCK_STREAM, 0)
            #endif
            guard descriptor >= 0 else { throw SocketError(call: "socket", code: errno) }
            #if canImport(Darwin)
            var one: Int32 = 1
            setsockopt(descriptor, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
            #endif
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard result == 0 else {
                let code = errno
                _ = closeDescriptor(descriptor)
                throw SocketError(call: "connect", code: code)
            }
            return RawConnection(descriptor: descriptor)
        }
    }

    func send(_ text: String) async throws {
        try await send(Array(text.utf8))
    }

    func send(_ bytes: [UInt8]) async throws {
        let descriptor = self.descriptor
        try await Self.onThread { try Self.sendAll(descriptor, bytes) }
    }

    /// Sends one byte at a time with a pause between, until `stop` is set or the server closes.
    func trickle(_ bytes: [UInt8], every pause: Duration, until stop: @escaping @Sendable () -> Bool) async {
        let descriptor = self.descriptor
        _ = try? await Self.onThread {
            for byte in bytes where !stop() {
                try Self.sendAll(descriptor, [byte])
                Thread.sleep(forTimeInterval: Double(pause.components.seconds) + Double(pause.components.attoseconds) / 1e18)
            }
        }
    }

    /// Reads until `done` says so about everything received, the server closes, or `limit` passes
    /// (a bound so that a broken server fails the test instead of hanging it).
    func read(until done: @escaping @Sendable ([UInt8]) -> Bool = { _ in false }, limit: Duration = .seconds(30)) async throws -> Received {
        let descriptor = self.descriptor
        return try await Self.onThread {
            var received = Received()
            let deadline = ContinuousClock.now + limit
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while !done(received.bytes), ContinuousClock.now < deadline {
                var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                let ready = poll(&poller, 1, 100)
                if ready < 0, errno != EINTR { throw SocketError(call: "poll", code: errno) }
                guard ready > 0 else { continue }
                let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
                if count > 0 {
                    received.bytes += chunk[..<count]
                } else if count == 0 || errno == ECONNRESET {
                    received.closed = true
                    break
                } else if errno != EINTR && errno != EAGAIN {
                    throw SocketError(call: "recv", code: errno)
                }
            }
            return received
        }
    }

    /// Reads until the server closes the connection.
    func readUntilClosed() async throws -> Received {
        try await read()
    }

    /// Reads until `count` whole responses have arrived (or the server closes).
    func readReplies(_ count: Int) async throws -> Received {
        try await read(until: { Reply.parse($0).count >= count })
    }

    /// Sends FIN: the server sees the client go.
    func shutdownWriting() {
        _ = shutdown(descriptor, Int32(SHUT_WR))
    }

    private static func sendAll(_ descriptor: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            // A server that has closed must fail the send, not kill the test process with SIGPIPE.
            #if canImport(Glibc)
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            #else
            let sent = bytes[offset...].withUnsafeBytes { Darwin.send(descriptor, $0.baseAddress, $0.count, 0) }
            #endif
            if sent < 0 {
                if errno == EINTR { continue }
                throw SocketError(call: "send", code: errno)
            }
            offset += sent
        }
    }

    private static func closeDescriptor(_ descriptor: Int32) -> Int32 {
        #if canImport(Glibc)
        Glibc.close(descriptor)
        #else
        Darwin.close(descriptor)
        #endif
    }

    private static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }
}
