import Foundation
import LunarModel
import NIOCore
import NIOPosix

/// An asynchronous QMP event.
public struct QMPEvent: Sendable, Equatable {
    public var name: String
    public var data: JSONValue?
}

/// QMP over a QEMU process's Unix socket: `QMPSession` (the protocol, pure) behind a NIO channel.
/// Every command waits a bounded time; a closed socket fails what waits.
public actor QMPClient {
    let channel: any Channel
    var session = QMPSession()
    var waiting: [UInt64: CheckedContinuation<JSONValue, any Error>] = [:]
    var subscribers: [UUID: AsyncStream<QMPEvent>.Continuation] = [:]
    var reader: Task<Void, Never>?
    public private(set) var closedReason: String?

    /// Lines longer than this close the session (QEMU's replies are far smaller).
    static let maximumLine = 8 << 20

    init(channel: any Channel) {
        self.channel = channel
    }

    /// Connects and negotiates; fails after `timeout` if QEMU does not greet.
    public static func connect(path: String, timeout: Duration = .seconds(5)) async throws -> QMPClient {
        // Bounded: a client that falls this far behind closes the session rather than queue on.
        let (lines, sink) = AsyncStream.makeStream(of: String?.self, bufferingPolicy: .bufferingOldest(4_096))
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(2))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(QMPLineHandler(sink: sink, limit: maximumLine)) }
            }
            .connect(unixDomainSocketPath: path).get()
        let client = QMPClient(channel: channel)
        await client.startReading(lines)
        // Any command waits for the negotiation; `query-status` proves the session works.
        _ = try await client.execute("query-status", timeout: timeout)
        return client
    }

    func startReading(_ lines: AsyncStream<String?>) {
        reader = Task {
            for await line in lines {
                guard let line else { break }
                await self.receive(line)
            }
            await self.ended("QEMU closed the QMP socket")
        }
    }

    func receive(_ line: String) {
        perform(session.receive(line))
    }

    func ended(_ reason: String) {
        perform(session.closed(reason))
        if closedReason == nil { closedReason = reason }
        for subscriber in subscribers.values { subscriber.finish() }
        subscribers = [:]
    }

    func perform(_ actions: [QMPSession.Action]) {
        for action in actions {
            switch action {
            case .send(let line):
                var buffer = channel.allocator.buffer(capacity: line.utf8.count + 1)
                buffer.writeString(line)
                buffer.writeString("\n")
                channel.writeAndFlush(buffer, promise: nil)
            case .complete(let id, let result):
                waiting.removeValue(forKey: id)?.resume(with: result.mapError { $0 as any Error })
            case .event(let name, let data):
                for subscriber in subscribers.values { subscriber.yield(QMPEvent(name: name, data: data)) }
            case .close(let reason):
                if closedReason == nil { closedReason = reason }
                channel.close(promise: nil)
            }
        }
    }

    /// Runs one command and returns its `return` value.
    /// - Throws: `QMPSession.Failure` (refused, closed) or `QMPTimeout`.
    public func execute(_ command: String, _ arguments: JSONObject? = nil, timeout: Duration = .seconds(10)) async throws -> JSONValue {
        let (id, actions) = session.execute(command, arguments: arguments)
        let expiry = Task {
            try await Task.sleep(for: timeout)
            self.expire(id, command: command, after: timeout)
        }
        defer { expiry.cancel() }
        return try await withCheckedThrowingContinuation { continuation in
            waiting[id] = continuation
            perform(actions)
        }
    }

    func expire(_ id: UInt64, command: String, after timeout: Duration) {
        waiting.removeValue(forKey: id)?.resume(throwing: QMPTimeout(command: command, timeout: timeout))
    }

    /// Events from now on (at most 256 unread are kept; the oldest go first).
    public func events() -> AsyncStream<QMPEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: QMPEvent.self, bufferingPolicy: .bufferingNewest(256))
        if closedReason != nil {
            continuation.finish()
            return stream
        }
        let key = UUID()
        subscribers[key] = continuation
        continuation.onTermination = { _ in Task { await self.unsubscribe(key) } }
        return stream
    }

    func unsubscribe(_ key: UUID) { subscribers[key] = nil }

    public var isClosed: Bool { closedReason != nil }

    /// Lets go of the socket (QEMU runs on).
    public func close() async {
        try? await channel.close()
        reader?.cancel()
    }
}

/// A QMP command that got no answer in time.
public struct QMPTimeout: Error, CustomStringConvertible {
    public var command: String
    public var timeout: Duration
    public var description: String { "QEMU did not answer \(command) within \(timeout)" }
}

/// Splits the socket's bytes into lines (bounded) for the client, in order.
final class QMPLineHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let sink: AsyncStream<String?>.Continuation
    let limit: Int
    var pending = ByteBuffer()

    init(sink: AsyncStream<String?>.Continuation, limit: Int) {
        self.sink = sink
        self.limit = limit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        pending.writeBuffer(&incoming)
        while let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - pending.readerIndex
            let line = pending.readString(length: length) ?? ""
            pending.moveReaderIndex(forwardBy: 1)
            if case .dropped = sink.yield(line) {
                sink.finish()
                context.close(promise: nil)
                return
            }
        }
        pending.discardReadBytes()
        if pending.readableBytes > limit {
            sink.yield(nil)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        sink.yield(nil)
        sink.finish()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
