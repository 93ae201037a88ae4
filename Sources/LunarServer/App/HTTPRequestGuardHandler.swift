import NIOCore
import NIOHTTP1

/// Sits straight after NIO's HTTP decoder, ahead of Hummingbird, and has `HTTPGuardHandler` refuse
/// what the application should never see: parser errors (which Hummingbird's WebSocket-upgrade
/// pipeline does not answer on a first request), heads over the size limit (431), methods the API does
/// not serve (405; 501 for methods the parser does not know), targets with raw non-ASCII bytes (400)
/// and bodies over the limit (413, before reading them when Content-Length says so). A refusal waits
/// for the answers to requests already passed on, so it never splits a response.
final class HTTPRequestGuardHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case open
        case refused
        /// Asked to become a WebSocket: raw bytes may follow once the decoder is gone, and the first
        /// response tells whether it did.
        case upgrading
        /// A WebSocket: nothing here is HTTP any more.
        case webSocket
    }

    /// Ends the body of a request being refused with an error, so its handler stops waiting and does
    /// not mistake the part it has for the whole body.
    struct RequestRefused: Error {}

    private let maximumBodyBytes: Int
    private var state = State.open
    private var requestsSeen = 0
    /// Requests passed on whose response has not ended.
    private var unanswered = 0
    private var responseStarted = false
    /// A request was passed on and its end has not arrived.
    private var readingBody = false
    private var bodyBytes = 0
    /// A refusal waiting until at most `unansweredAllowed` requests (the refused one) are unanswered.
    private var pending: (refusal: HTTPRefusal, unansweredAllowed: Int)?

    init(maximumBodyBytes: Int) {
        self.maximumBodyBytes = maximumBodyBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch state {
        case .upgrading, .webSocket:
            context.fireChannelRead(data)
            return
        case .refused:
            return
        case .open:
            break
        }
        switch unwrapInboundIn(data) {
        case .head(let head):
            if let refusal = refusal(for: head) {
                refuse(context: context, refusal)
                return
            }
            // NIO upgrades only on the first request.
            let upgrading = requestsSeen == 0 && head.headers[canonicalForm: "upgrade"].contains { $0.lowercased() == "websocket" }
            requestsSeen += 1
            unanswered += 1
            readingBody = true
            bodyBytes = 0
            if upgrading { state = .upgrading }
            context.triggerUserOutboundEvent(upgrading ? HTTPGuardEvent.upgraded : HTTPGuardEvent.requestHead, promise: nil)
        case .body(let buffer):
            bodyBytes += buffer.readableBytes
            guard bodyBytes <= maximumBodyBytes else {
                refuse(context: context, HTTPRefusal(.payloadTooLarge))
                return
            }
        case .end:
            readingBody = false
            context.fireChannelRead(data)
            // Answered before its body was read (Hummingbird then drains it): finished only now.
            if unanswered == 0 { context.triggerUserOutboundEvent(HTTPGuardEvent.responsesFinished, promise: nil) }
            return
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch state {
        case .open:
            guard let error = error as? HTTPParserError else { break }
            refuse(context: context, refusal(for: error))
            return
        case .refused:
            // Leftovers of what is being refused.
            if error is HTTPParserError || error is ByteToMessageDecoderError { return }
        case .upgrading, .webSocket:
            break
        }
        context.fireErrorCaught(error)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? HTTPGuardEvent {
            // HTTPGuardHandler refuses on its own account (timeout, too many connections).
            if case .refusing = event, state == .open { stopPassingOn(context: context) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch state {
        case .webSocket:
            context.write(data, promise: promise)
            return
        case .upgrading:
            // The first response decides: 101, or the upgrade failed and this stays HTTP.
            if case .head(let head) = unwrapOutboundIn(data), head.status != .switchingProtocols {
                state = .open
                readingBody = false
                context.triggerUserOutboundEvent(HTTPGuardEvent.requestHead, promise: nil)
            } else {
                state = .webSocket
                context.write(data, promise: promise)
                return
            }
        case .open, .refused:
            break
        }
        switch unwrapOutboundIn(data) {
        case .head:
            responseStarted = true
        case .body:
            break
        case .end:
            responseStarted = false
            unanswered = max(0, unanswered - 1)
            context.write(data, promise: promise)
            if pending != nil {
                sendPendingRefusal(context: context)
            } else if state == .open, unanswered == 0, !readingBody {
                context.triggerUserOutboundEvent(HTTPGuardEvent.responsesFinished, promise: nil)
            }
            return
        }
        context.write(data, promise: promise)
    }

    private func refusal(for head: HTTPRequestHead) -> HTTPRefusal? {
        switch head.method {
        case .GET, .HEAD, .POST:
            break
        default:
            return HTTPRefusal(.methodNotAllowed, allow: HTTPRefusal.allowedMethods)
        }
        // The parser lets raw bytes above 0x7F through in the target; they are not HTTP.
        guard head.uri.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return HTTPRefusal(.badRequest) }
        // Refused before the body is read (an unparseable length is one too large for Int).
        if head.headers["content-length"].contains(where: { Int($0).map { $0 > maximumBodyBytes } ?? true }) {
            return HTTPRefusal(.payloadTooLarge)
        }
        return nil
    }

    private func refusal(for error: HTTPParserError) -> HTTPRefusal {
        switch error {
        case .headerOverflow:
            return HTTPRefusal(.requestHeaderFieldsTooLarge)
        case .invalidMethod where requestsSeen == 0:
            // HTTPGuardHandler has already refused a first token that is not a token at all.
            return HTTPRefusal(.notImplemented, allow: HTTPRefusal.allowedMethods)
        default:
            return HTTPRefusal(.badRequest)
        }
    }

    private func refuse(context: ChannelHandlerContext, _ refusal: HTTPRefusal) {
        guard state == .open else { return }
        // A request passed on stays unanswered until its handler gives up; the refusal answers it,
        // unless it was answered already (and its body is being drained): then it only closes.
        pending = (readingBody && unanswered == 0 ? HTTPRefusal(nil) : refusal, readingBody ? 1 : 0)
        stopPassingOn(context: context)
        sendPendingRefusal(context: context)
    }

    private func stopPassingOn(context: ChannelHandlerContext) {
        state = .refused
        if readingBody {
            readingBody = false
            // An error, not EOF: a truncated body must not look complete.
            context.fireErrorCaught(RequestRefused())
        }
    }

    private func sendPendingRefusal(context: ChannelHandlerContext) {
        guard let (refusal, allowed) = pending, unanswered <= allowed, !responseStarted else { return }
        pending = nil
        context.triggerUserOutboundEvent(HTTPGuardEvent.refuse(refusal), promise: nil)
    }
}
