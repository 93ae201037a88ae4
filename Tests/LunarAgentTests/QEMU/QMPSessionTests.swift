import LunarModel
import Testing

@testable import LunarAgent

/// QMPSession with no socket: QEMU's lines are scripted as QEMU 7.2 writes them.
struct QMPSessionTests {
    static let greeting = #"{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "Debian 1:7.2+dfsg-7+deb12u18"}, "capabilities": ["oob"]}}"#

    /// Greeting, negotiation, then the session is ready; returns the session.
    static func ready() -> QMPSession {
        var session = QMPSession()
        #expect(session.receive(greeting) == [.send(#"{"execute":"qmp_capabilities"}"#)])
        #expect(session.receive(#"{"return": {}}"#) == [])
        #expect(session.state == .ready)
        return session
    }

    @Test func negotiatesThenSendsWhatWaited() {
        var session = QMPSession()
        let (first, early) = session.execute("query-status")
        #expect(early.isEmpty, "nothing is sent before the greeting")
        #expect(session.receive(Self.greeting) == [.send(#"{"execute":"qmp_capabilities"}"#)])
        #expect(session.version?.major == 7 && session.version?.minor == 2)
        let (second, _) = session.execute("query-name")
        #expect(session.receive(#"{"return": {}}"#) == [
            .send(#"{"execute":"query-status","id":\#(first)}"#), .send(#"{"execute":"query-name","id":\#(second)}"#),
        ])
        #expect(session.receive(#"{"return": {"status": "running", "singlestep": false, "running": true}, "id": \#(first)}"#) == [
            .complete(id: first, .success(.object(JSONObject(["status": "running", "singlestep": false, "running": true])))),
        ])
    }

    @Test func repliesMatchByIDAndErrorsAreRefusals() {
        var session = Self.ready()
        let (add, sent) = session.execute("device_add", arguments: JSONObject(["driver": "virtio-blk-pci", "id": "disk1", "drive": "d1"]))
        #expect(sent == [.send(#"{"execute":"device_add","id":\#(add),"arguments":{"driver":"virtio-blk-pci","id":"disk1","drive":"d1"}}"#)])
        #expect(session.receive(#"{"id": \#(add), "error": {"class": "GenericError", "desc": "Device 'd1' not found"}}"#) == [
            .complete(id: add, .failure(.refused(errorClass: "GenericError", description: "Device 'd1' not found"))),
        ])
    }

    @Test func eventsBelongToNoCommand() {
        var session = Self.ready()
        let (id, _) = session.execute("device_del", arguments: JSONObject(["id": "disk1"]))
        let event = #"{"timestamp": {"seconds": 1700000000, "microseconds": 1}, "event": "DEVICE_DELETED", "data": {"device": "disk1", "path": "/machine/peripheral/disk1"}}"#
        #expect(session.receive(event) == [.event(name: "DEVICE_DELETED", data: .object(JSONObject(["device": "disk1", "path": "/machine/peripheral/disk1"])))])
        #expect(session.receive(#"{"return": {}, "id": \#(id)}"#) == [.complete(id: id, .success(.object(JSONObject())))])
    }

    @Test func anAnswerNobodyAskedForOrGarbageClosesAndFailsTheWaiting() {
        var session = Self.ready()
        let (id, _) = session.execute("query-status")
        let actions = session.receive(#"{"return": {}, "id": 9999}"#)
        #expect(actions.first == .complete(id: id, .failure(.closed(reason: "QEMU answered a command that was not asked"))))
        #expect(actions.last == .close(reason: "QEMU answered a command that was not asked"))
        #expect(session.state == .closed)
        #expect(session.execute("query-status").actions.count == 1, "a closed session fails at once")

        var other = QMPSession()
        #expect(other.receive("not json").last == .close(reason: "QEMU sent a line that is not a JSON object"))
        var impostor = QMPSession()
        #expect(impostor.receive(#"{"hello": 1}"#).last == .close(reason: "QEMU did not greet with QMP"))
    }

    @Test func qemuExitingFailsEveryCommandStillWaiting() {
        var session = Self.ready()
        let (a, _) = session.execute("migrate", arguments: JSONObject(["uri": "tcp:127.0.0.1:4444"]))
        let (b, _) = session.execute("query-migrate")
        #expect(session.closed("QEMU exited") == [
            .complete(id: a, .failure(.closed(reason: "QEMU exited"))), .complete(id: b, .failure(.closed(reason: "QEMU exited"))),
        ])
        #expect(session.closed("again") == [])
    }

    @Test func unansweredCommandsAreBounded() {
        var session = QMPSession(maximumPending: 2)
        _ = session.receive(Self.greeting)
        _ = session.receive(#"{"return": {}}"#)
        _ = session.execute("a")
        _ = session.execute("b")
        let (id, refused) = session.execute("c")
        #expect(refused == [.complete(id: id, .failure(.tooManyPending))])
    }
}
