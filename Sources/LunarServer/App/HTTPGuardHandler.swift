import NIOCore

/// The first handler of every server connection, below HTTP parsing. Hummingbird times out idle
/// connections only once a first request head has been parsed, and its connection limit leaves extra
/// connections waiting in the listen backlog; this handler covers the rest: it refuses connections
/// over the limit (503), request heads that do not arrive in time (408), and first bytes that cannot
/// start an HTTP request such as a TLS ClientHello (400). It also writes the refusals
/// `HTTPRequestGuardHandler` asks for. A refused connection gets its answer, then EOF; what the client
/// still sends is read and dropped for a moment, so that closing does not reset the connection before
/// the client has read the answer.
final class HTTPGuardHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private enum State {
        /// Waiting for a request head; the header timer runs.
        case awaitingHead
        /// A request is being read or answered: Hummingbird's idle timeout governs.
        case inRequest
        /// Between keep-alive requests: Hummingbird's idle timeout governs until a byte arrives.
        case idle
        /// A WebSocket now, kept honest by its own pings and heartbeats.
        case upgraded
        /// Answered and closing.
        case refusing
    }

    /// How long a refused connection drains what the client still sends before it is closed.
    static let lingerTime = TimeAmount.seconds(2)
    /// First tokens longer than this are left to the parser to judge.
    private static let methodScanLimit = 24

    private let gate: ConnectionGate
    private let headerTimeout: TimeAmount?
    private var state = State.awaitingHead
    private var started = false
    private var holdsPlace = false
    private var headBytesSeen = false
    /// Bytes of the connection's first token so far; nil once it is judged.
    private var methodScan: Int? = 0
    /// The header timer, or the linger timer once refusing.
    private var timer: Scheduled<Void>?
    private var closing = false

    init(gate: ConnectionGate, headerTimeout: TimeAmount?) {
        self.gate = gate
        self.headerTimeout = headerTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // Normally added before the channel is active; if not, start once the pipeline is complete.
        if context.channel.isActive {
            context.eventLoop.assumeIsolated().execute { self.start(context: context) }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        start(context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch state {
        case .refusing:
            return
        case .idle:
            state = .awaitingHead
            headBytesSeen = false
            armHeaderTimer(context: context)
        case .awaitingHead, .inRequest, .upgraded:
            break
        }
        let buffer = unwrapInboundIn(data)
        if state == .awaitingHead, buffer.readableBytes > 0 { headBytesSeen = true }
        if methodScan != nil, !scanFirstToken(buffer) {
            refuse(context: context, HTTPRefusal(.badRequest))
            return
        }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if state == .refusing {
            // Keep draining: Hummingbird has stopped asking for reads.
            context.read()
            return
        }
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if state == .refusing, let event = event as? ChannelEvent, event == .inputClosed {
            // The client has finished sending: nothing left to drain.
            closeNow(context: context)
            return
        }
        if event is ChannelShouldQuiesceEvent {
            // Shutting down: Hummingbird closes connections between requests, but one still waiting
            // for a request head (or lingering) would hold the shutdown up until its timer fired.
            if state == .awaitingHead { refuse(context: context, HTTPRefusal(nil)) }
            if state == .refusing { closeNow(context: context) }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard state != .refusing else {
            // The refusal is the answer; the application's late one is dropped.
            promise?.fail(ChannelError.outputClosed)
            return
        }
        context.write(data, promise: promise)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard state == .refusing, !closing else {
            context.close(mode: mode, promise: promise)
            return
        }
        // Hummingbird lets go of a refused connection at once; the close waits for the linger.
        if mode == .all, let promise {
            context.channel.closeFuture.cascade(to: promise)
        } else {
            promise?.succeed(())
        }
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let event = event as? HTTPGuardEvent else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        promise?.succeed(())
        switch event {
        case .requestHead:
            methodScan = nil
            if state != .refusing {
                state = .inRequest
                cancelTimer()
            }
        case .responsesFinished:
            if state == .inRequest { state = .idle }
        case .upgraded:
            methodScan = nil
            if state != .refusing {
                state = .upgraded
                cancelTimer()
            }
        case .refuse(let refusal):
            refuse(context: context, refusal)
        case .refusing:
            break
        }
    }

    private func start(context: ChannelHandlerContext) {
        guard !started else { return }
        started = true
        guard gate.enter() else {
            refuse(context: context, HTTPRefusal(.serviceUnavailable))
            return
        }
        holdsPlace = true
        armHeaderTimer(context: context)
    }

    private func stop() {
        cancelTimer()
        if holdsPlace {
            holdsPlace = false
            gate.leave()
        }
    }

    /// False when the connection's first bytes cannot be an HTTP method: there is no request to
    /// speak of, so 400 (the parser would say only "invalid method", which the request guard answers
    /// with 501 meant for a well-formed but unknown method).
    private func scanFirstToken(_ buffer: ByteBuffer) -> Bool {
        for byte in buffer.readableBytesView {
            guard let count = methodScan else { return true }
            if byte == UInt8(ascii: " ") {
                methodScan = nil
                return count > 0
            }
            // Empty lines before a request line are allowed.
            if count == 0, byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n") { continue }
            guard Self.isTokenByte(byte) else { return false }
            methodScan = count + 1 < Self.methodScanLimit ? count + 1 : nil
        }
        return true
    }

    /// RFC 9110's tchar.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    private func armHeaderTimer(context: ChannelHandlerContext) {
        guard let headerTimeout else { return }
        cancelTimer()
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: headerTimeout) {
            self.timer = nil
            guard self.state == .awaitingHead else { return }
            // A connection that never sent a byte asked nothing: it is closed without an answer.
            self.refuse(context: context, HTTPRefusal(self.headBytesSeen ? .requestTimeout : nil))
        }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
    }

    private func refuse(context: ChannelHandlerContext, _ refusal: HTTPRefusal) {
        guard state != .refusing else { return }
        state = .refusing
        methodScan = nil
        cancelTimer()
        context.fireUserInboundEventTriggered(HTTPGuardEvent.refusing)
        let answered =
            refusal.encoded(allocator: context.channel.allocator).map { context.writeAndFlush(wrapOutboundOut(.byteBuffer($0))) }
            ?? context.eventLoop.makeSucceededVoidFuture()
        answered.assumeIsolated().whenComplete { result in
            guard case .success = result, !self.closing else {
                self.closeNow(context: context)
                return
            }
            // The client reads the answer, then EOF.
            let halfClosed = context.eventLoop.makePromise(of: Void.self)
            halfClosed.futureResult.assumeIsolated().whenFailure { _ in self.closeNow(context: context) }
            context.close(mode: .output, promise: halfClosed)
        }
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: Self.lingerTime) {
            self.timer = nil
            self.closeNow(context: context)
        }
        context.read()
        // Hummingbird's side finishes as if the client had stopped sending (and logs nothing alarming).
        context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
    }

    private func closeNow(context: ChannelHandlerContext) {
        guard !closing else { return }
        closing = true
        cancelTimer()
        context.close(promise: nil)
    }
}
