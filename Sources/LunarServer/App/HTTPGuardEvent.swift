/// What the two connection guards tell each other. `HTTPRequestGuardHandler` sees parsed requests and
/// sends the first four outbound to `HTTPGuardHandler`, which owns the socket end of the pipeline;
/// `refusing` goes back inbound so parts still in the decoder are dropped, not served.
enum HTTPGuardEvent: Sendable {
    /// A request head was accepted: its header timer stops.
    case requestHead
    /// Every request read so far is answered: the next bytes start a new request.
    case responsesFinished
    /// The connection becomes a WebSocket: no HTTP timers from now on.
    case upgraded
    /// Answer (or not) and close.
    case refuse(HTTPRefusal)
    /// The connection is being refused.
    case refusing
}
