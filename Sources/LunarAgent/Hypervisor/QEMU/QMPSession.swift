import LunarModel

/// One QMP conversation with a QEMU process, pure: lines in, actions out, no socket.
///
/// QMP (QEMU's machine protocol) is newline-delimited JSON over a Unix socket. QEMU speaks first,
/// with a greeting (`{"QMP": {"version": …, "capabilities": […]}}`); the client must send
/// `qmp_capabilities` before any other command. After that every command is
/// `{"execute": NAME, "arguments": {…}, "id": N}` and gets exactly one reply carrying the same id:
/// `{"return": …}` or `{"error": {"class": …, "desc": …}}`. Between replies QEMU sends
/// asynchronous events (`{"event": "STOP", "data": …, "timestamp": …}`), which belong to no
/// command. Replies come in the order commands were sent, but ids make that an observation, not
/// an assumption.
///
///     awaitingGreeting ──greeting──▶ negotiating ──return──▶ ready ──(commands, events)──▶ …
///            └──────── anything else, an error, or close ────────────▶ closed
///
/// Commands asked for before `ready` wait in order (bounded) and are sent once negotiation ends;
/// at most `maximumPending` commands may be unanswered at once. A closed session fails every
/// waiting command, so nothing waits for an answer that cannot come.
public struct QMPSession: Sendable {
    public enum State: Sendable, Equatable {
        case awaitingGreeting, negotiating, ready, closed
    }

    /// Why a command did not get its result.
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// QEMU answered with an error (`class` as QEMU names it, e.g. `GenericError`, `DeviceNotFound`).
        case refused(errorClass: String, description: String)
        /// The session ended before the answer (QEMU exited, the socket closed, a protocol error).
        case closed(reason: String)
        /// More than `maximumPending` commands unanswered: refused at once.
        case tooManyPending

        public var description: String {
            switch self {
            case .refused(let errorClass, let description): "QEMU refused the command (\(errorClass)): \(description)"
            case .closed(let reason): "the QMP session is closed: \(reason)"
            case .tooManyPending: "too many QMP commands unanswered"
            }
        }
    }

    public enum Action: Sendable, Equatable {
        /// Write this line (no newline included) to the socket.
        case send(String)
        /// Command `id` ended.
        case complete(id: UInt64, Result<JSONValue, Failure>)
        /// An asynchronous event.
        case event(name: String, data: JSONValue?)
        /// The session ended (close the socket); waiting commands were completed with `.closed`.
        case close(reason: String)
    }

    public private(set) var state: State = .awaitingGreeting
    /// The QEMU version the greeting named (major, minor, micro).
    public private(set) var version: (major: Int, minor: Int, micro: Int)?
    public let maximumPending: Int

    private var nextID: UInt64 = 1
    /// Sent and unanswered, by id.
    private var pending: Set<UInt64> = []
    /// Asked for before `ready`, in order.
    private var queued: [(id: UInt64, line: String)] = []

    public init(maximumPending: Int = 64) {
        precondition(maximumPending > 0)
        self.maximumPending = maximumPending
    }

    /// Asks for `command`; returns its id and what to do now (send it, or nothing while the
    /// session is not ready yet, or its failure).
    public mutating func execute(_ command: String, arguments: JSONObject? = nil) -> (id: UInt64, actions: [Action]) {
        let id = nextID
        nextID += 1
        if state == .closed { return (id, [.complete(id: id, .failure(.closed(reason: "closed before the command was sent")))]) }
        guard pending.count + queued.count < maximumPending else { return (id, [.complete(id: id, .failure(.tooManyPending))]) }
        var request = JSONObject(["execute": .string(command), "id": .integer(Int64(id))])
        if let arguments { request["arguments"] = .object(arguments) }
        let line = JSONValue.object(request).serialized
        guard state == .ready else {
            queued.append((id, line))
            return (id, [])
        }
        pending.insert(id)
        return (id, [.send(line)])
    }

    /// Takes one line QEMU sent.
    public mutating func receive(_ line: String) -> [Action] {
        guard state != .closed else { return [] }
        guard let message = try? JSONValue.parse(line).objectValue else { return close("QEMU sent a line that is not a JSON object") }
        switch state {
        case .awaitingGreeting:
            guard let greeting = message["QMP"]?.objectValue else { return close("QEMU did not greet with QMP") }
            if let qemu = greeting["version"]?["qemu"]?.objectValue {
                version = (Int(qemu["major"]?.intValue ?? 0), Int(qemu["minor"]?.intValue ?? 0), Int(qemu["micro"]?.intValue ?? 0))
            }
            state = .negotiating
            return [.send(JSONValue.object(JSONObject(["execute": "qmp_capabilities"])).serialized)]
        case .negotiating:
            if let event = Self.event(message) { return [event] }
            guard message["return"] != nil else {
                return close("QEMU refused qmp_capabilities: \(message["error"]?["desc"]?.stringValue ?? "no reason")")
            }
            state = .ready
            let sending = queued
            queued = []
            for (id, _) in sending { pending.insert(id) }
            return sending.map { .send($0.line) }
        case .ready:
            if let event = Self.event(message) { return [event] }
            guard let rawID = message["id"]?.intValue, rawID > 0, pending.remove(UInt64(rawID)) != nil else {
                return close("QEMU answered a command that was not asked")
            }
            let id = UInt64(rawID)
            if let result = message["return"] { return [.complete(id: id, .success(result))] }
            let error = message["error"]?.objectValue
            return [
                .complete(
                    id: id,
                    .failure(.refused(errorClass: error?["class"]?.stringValue ?? "GenericError", description: error?["desc"]?.stringValue ?? "no description"))
                )
            ]
        case .closed:
            return []
        }
    }

    /// The socket closed (QEMU exited, or the agent let go).
    public mutating func closed(_ reason: String) -> [Action] {
        guard state != .closed else { return [] }
        return close(reason, sendClose: false)
    }

    private mutating func close(_ reason: String, sendClose: Bool = true) -> [Action] {
        state = .closed
        var actions: [Action] = (pending.sorted() + queued.map(\.id)).map { .complete(id: $0, .failure(.closed(reason: reason))) }
        pending = []
        queued = []
        if sendClose { actions.append(.close(reason: reason)) }
        return actions
    }

    private static func event(_ message: JSONObject) -> Action? {
        guard let name = message["event"]?.stringValue else { return nil }
        return .event(name: name, data: message["data"])
    }
}
