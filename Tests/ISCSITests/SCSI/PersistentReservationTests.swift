import Foundation
import ISCSI
import NIOCore
import Testing

struct PersistentReservationTests {
    static func out(_ action: UInt8, type: UInt8 = 0, key: UInt64, serviceActionKey: UInt64 = 0, aptpl: Bool = false) -> ([UInt8], [UInt8]) {
        let cdb: [UInt8] = [0x5F, action, type, 0, 0, 0, 0, 0, 24, 0]
        let list = SCSITestUnit.be(key, 8) + SCSITestUnit.be(serviceActionKey, 8) + [0, 0, 0, 0, aptpl ? 1 : 0, 0, 0, 0]
        return (cdb, list)
    }

    @discardableResult
    static func send(_ harness: SCSITestUnit, _ request: ([UInt8], [UInt8]), _ nexus: SCSINexus) -> SCSICommandResult {
        harness.run(request.0, request.1, nexus: nexus)
    }

    static func keys(_ harness: SCSITestUnit) -> [UInt64] {
        let bytes = harness.run([0x5E, 0x00, 0, 0, 0, 0, 0, 0x10, 0, 0]).bytes
        return stride(from: 8, to: bytes.count, by: 8).map { offset in bytes[offset..<(offset + 8)].reduce(0) { $0 << 8 | UInt64($1) } }
    }

    @Test func registerReserveAndConflicts() throws {
        let harness = try SCSITestUnit()
        let (a, b) = (harness.first, harness.second)
        // Unregistered nexuses cannot reserve.
        #expect(Self.send(harness, Self.out(1, type: 1, key: 0), a).status == SCSIStatus.reservationConflict)
        #expect(Self.send(harness, Self.out(0, key: 0, serviceActionKey: 0xA), a).status == SCSIStatus.good)
        #expect(Self.send(harness, Self.out(0, key: 0, serviceActionKey: 0xB), b).status == SCSIStatus.good)
        // REGISTER with the wrong key conflicts; REGISTER AND IGNORE does not.
        #expect(Self.send(harness, Self.out(0, key: 0x99, serviceActionKey: 0xC), b).status == SCSIStatus.reservationConflict)
        #expect(Self.keys(harness).sorted() == [0xA, 0xB])
        // Write Exclusive held by a: b may read but not write.
        #expect(Self.send(harness, Self.out(1, type: 1, key: 0xA), a).status == SCSIStatus.good)
        #expect(harness.read16(0, 1).status == SCSIStatus.good)
        #expect(harness.run([0x88, 0] + SCSITestUnit.be(0, 8) + [0, 0, 0, 1, 0, 0], nexus: b).status == SCSIStatus.good)
        let write: [UInt8] = [0x8A, 0] + SCSITestUnit.be(0, 8) + [0, 0, 0, 1, 0, 0]
        #expect(harness.run(write, [UInt8](repeating: 0, count: 512), nexus: b).status == SCSIStatus.reservationConflict)
        #expect(harness.run(write, [UInt8](repeating: 0, count: 512), nexus: a).status == SCSIStatus.good)
        // READ RESERVATION shows a's key and the type.
        let reservation = harness.run([0x5E, 0x01, 0, 0, 0, 0, 0, 0x10, 0, 0]).bytes
        #expect(reservation.count == 24 && reservation[15] == 0x0A && reservation[21] == 1)
        // Releasing with the wrong type is refused; with the right one it frees b.
        #expect(Self.send(harness, Self.out(2, type: 3, key: 0xA), a).senseTriple! == (0x05, 0x26, 0x04))
        #expect(Self.send(harness, Self.out(2, type: 1, key: 0xA), a).status == SCSIStatus.good)
        #expect(harness.run(write, [UInt8](repeating: 0, count: 512), nexus: b).status == SCSIStatus.good)
    }

    @Test func exclusiveAccessRegistrantsOnlyLetsRegistrantsIn() throws {
        let harness = try SCSITestUnit()
        let (a, b) = (harness.first, harness.second)
        let outsider = SCSINexus(initiatorPort: "iqn.2026-11.test:z,i,0x9", targetPort: "t,t,0x1")
        _ = harness.run([0, 0, 0, 0, 0, 0], nexus: outsider)
        Self.send(harness, Self.out(6, key: 0, serviceActionKey: 1), a)
        Self.send(harness, Self.out(6, key: 0, serviceActionKey: 2), b)
        #expect(Self.send(harness, Self.out(1, type: 6, key: 1), a).status == SCSIStatus.good)
        let read: [UInt8] = [0x88, 0] + SCSITestUnit.be(0, 8) + [0, 0, 0, 1, 0, 0]
        #expect(harness.run(read, nexus: b).status == SCSIStatus.good)
        #expect(harness.run(read, nexus: outsider).status == SCSIStatus.reservationConflict)
        #expect(harness.run([0x12, 0, 0, 0, 36, 0], nexus: outsider).status == SCSIStatus.good)
        // Releasing a registrants-only reservation tells the other registrants.
        #expect(Self.send(harness, Self.out(2, type: 6, key: 1), a).status == SCSIStatus.good)
        #expect(harness.run([0, 0, 0, 0, 0, 0], nexus: b).senseTriple! == (0x06, 0x2A, 0x04))
    }

    @Test func preemptRemovesTheOtherRegistrationAndTakesTheReservation() throws {
        let harness = try SCSITestUnit()
        let (a, b) = (harness.first, harness.second)
        Self.send(harness, Self.out(6, key: 0, serviceActionKey: 1), a)
        Self.send(harness, Self.out(6, key: 0, serviceActionKey: 2), b)
        Self.send(harness, Self.out(1, type: 3, key: 1), a)
        let generation = harness.run([0x5E, 0x00, 0, 0, 0, 0, 0, 0x10, 0, 0]).bytes[3]
        #expect(Self.send(harness, Self.out(4, type: 1, key: 2, serviceActionKey: 1), b).status == SCSIStatus.good)
        #expect(harness.run([0, 0, 0, 0, 0, 0], nexus: a).senseTriple! == (0x06, 0x2A, 0x05))
        #expect(Self.keys(harness) == [2])
        #expect(harness.run([0x5E, 0x00, 0, 0, 0, 0, 0, 0x10, 0, 0]).bytes[3] == generation &+ 1)
        let reservation = harness.run([0x5E, 0x01, 0, 0, 0, 0, 0, 0x10, 0, 0]).bytes
        #expect(reservation[15] == 2 && reservation[21] == 1)
        // CLEAR empties everything.
        #expect(Self.send(harness, Self.out(3, key: 2), b).status == SCSIStatus.good)
        #expect(Self.keys(harness).isEmpty)
    }

    @Test func parameterListIsValidated() throws {
        let harness = try SCSITestUnit()
        #expect(harness.run([0x5F, 0, 0, 0, 0, 0, 0, 0, 23, 0], [UInt8](repeating: 0, count: 23)).senseTriple! == (0x05, 0x1A, 0x00))
        var list = Self.out(0, key: 0, serviceActionKey: 5).1
        list[20] = 0x08  // SPEC_I_PT
        #expect(harness.run([0x5F, 0, 0, 0, 0, 0, 0, 0, 24, 0], list).senseTriple! == (0x05, 0x26, 0x00))
        #expect(harness.run([0x5E, 0x07, 0, 0, 0, 0, 0, 0x10, 0, 0]).senseTriple! == (0x05, 0x24, 0x00))
        // Without a store APTPL cannot be honoured.
        #expect(Self.send(harness, Self.out(0, key: 0, serviceActionKey: 5, aptpl: true), harness.first).senseTriple! == (0x05, 0x26, 0x00))
    }

    @Test func aptplStateSurvivesARestart() throws {
        let storePath = NSTemporaryDirectory() + "lunar-pr-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: storePath) }
        let store = FilePersistentReservationStore(path: storePath)
        let harness = try SCSITestUnit(store: store)
        Self.send(harness, Self.out(6, key: 0, serviceActionKey: 0x77, aptpl: true), harness.first)
        #expect(Self.send(harness, Self.out(1, type: 5, key: 0x77), harness.first).status == SCSIStatus.good)
        let capabilities = harness.run([0x5E, 0x02, 0, 0, 0, 0, 0, 0, 8, 0]).bytes
        #expect(capabilities[2] & 0x01 == 1 && capabilities[3] & 0x01 == 1)
        // A new unit on the same store (a restart) has the registration and the reservation.
        let restarted = try SCSILogicalUnit(device: harness.device, serial: "unit-test", naa: 0xABCD, reservationStore: store)
        harness.unit = restarted
        _ = harness.run([0, 0, 0, 0, 0, 0])
        #expect(Self.keys(harness) == [0x77])
        let reservation = harness.run([0x5E, 0x01, 0, 0, 0, 0, 0, 0x10, 0, 0]).bytes
        #expect(reservation.count == 24 && reservation[21] == 5)
        // Without APTPL the next restart forgets it.
        Self.send(harness, Self.out(0, key: 0x77, serviceActionKey: 0x78, aptpl: false), harness.first)
        harness.unit = try SCSILogicalUnit(device: harness.device, serial: "unit-test", naa: 0xABCD, reservationStore: store)
        _ = harness.run([0, 0, 0, 0, 0, 0])
        #expect(Self.keys(harness).isEmpty)
    }

    @Test func corruptStoreRefusesToStart() throws {
        let storePath = NSTemporaryDirectory() + "lunar-pr-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: storePath) }
        try "not json".write(toFile: storePath, atomically: true, encoding: .utf8)
        let harness = try SCSITestUnit()
        #expect(throws: (any Error).self) {
            try SCSILogicalUnit(device: harness.device, serial: "x", naa: 1, reservationStore: FilePersistentReservationStore(path: storePath))
        }
    }

    @Test func reserve6BlocksOthersUntilReleaseOrReset() throws {
        let harness = try SCSITestUnit()
        #expect(harness.run([0x16, 0, 0, 0, 0, 0]).status == SCSIStatus.good)
        #expect(harness.run([0x16, 0, 0, 0, 0, 0], nexus: harness.second).status == SCSIStatus.reservationConflict)
        #expect(harness.run([0x12, 0, 0, 0, 36, 0], nexus: harness.second).status == SCSIStatus.good)
        harness.unit.reset(initiatedBy: harness.first)
        _ = harness.run([0, 0, 0, 0, 0, 0])  // BUS DEVICE RESET
        _ = harness.run([0, 0, 0, 0, 0, 0], nexus: harness.second)
        #expect(harness.run([0x16, 0, 0, 0, 0, 0], nexus: harness.second).status == SCSIStatus.good)
        harness.unit.nexusLost(harness.second)
        // The holder's nexus is gone, so its reservation is too.
        #expect(harness.run([0x16, 0, 0, 0, 0, 0]).status == SCSIStatus.good)
    }
}
