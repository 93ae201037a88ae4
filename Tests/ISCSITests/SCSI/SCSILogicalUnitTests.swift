import ISCSI
import NIOCore
import Testing

struct SCSILogicalUnitTests {
    @Test func firstCommandReportsPowerOnButInquiryDoesNot() throws {
        let harness = try SCSITestUnit()
        let newcomer = SCSINexus(initiatorPort: "iqn.2026-11.test:c,i,0x3", targetPort: "t,t,0x1")
        #expect(harness.run([0x12, 0, 0, 0, 36, 0], nexus: newcomer).status == SCSIStatus.good)
        let attention = harness.run([0, 0, 0, 0, 0, 0], nexus: newcomer)
        #expect(attention.status == SCSIStatus.checkCondition)
        #expect(attention.senseTriple! == (0x06, 0x29, 0x00))
        #expect(harness.run([0, 0, 0, 0, 0, 0], nexus: newcomer).status == SCSIStatus.good)
    }

    @Test func requestSenseReturnsAndClearsUnitAttention() throws {
        let harness = try SCSITestUnit()
        harness.unit.capacityChanged()
        let fixed = harness.run([0x03, 0, 0, 0, 18, 0])
        #expect(fixed.bytes[0] == 0x70 && fixed.bytes[2] == 0x06 && fixed.bytes[12] == 0x2A && fixed.bytes[13] == 0x09)
        #expect(harness.run([0, 0, 0, 0, 0, 0]).status == SCSIStatus.good)
        harness.unit.capacityChanged()
        let descriptor = harness.run([0x03, 0x01, 0, 0, 252, 0])
        #expect(descriptor.bytes[0] == 0x72 && descriptor.bytes[1] == 0x06 && descriptor.bytes[2] == 0x2A)
    }

    @Test func resetTellsEveryNexus() throws {
        let harness = try SCSITestUnit()
        let otherPath = SCSINexus(initiatorPort: "iqn.2026-11.test:a,i,0x7", targetPort: "iqn.2026-11.test:t,t,0x1")
        _ = harness.run([0, 0, 0, 0, 0, 0], nexus: otherPath)
        harness.unit.reset(initiatedBy: harness.first)
        #expect(harness.run([0, 0, 0, 0, 0, 0]).senseTriple! == (0x06, 0x29, 0x03))
        #expect(harness.run([0, 0, 0, 0, 0, 0], nexus: otherPath).senseTriple! == (0x06, 0x29, 0x03))
        #expect(harness.run([0, 0, 0, 0, 0, 0], nexus: harness.second).senseTriple! == (0x06, 0x29, 0x03))
    }

    @Test func readWriteRoundTripAndRange() throws {
        let harness = try SCSITestUnit()
        let data = (0..<1024).map { UInt8($0 % 251) }
        #expect(harness.write16(10, data, fua: true).status == SCSIStatus.good)
        #expect(harness.read16(10, 2).bytes == data)
        let blocks = harness.device.blockCount
        #expect(harness.read16(blocks - 1, 2).senseTriple! == (0x05, 0x21, 0x00))
        #expect(harness.write16(blocks, [UInt8](repeating: 1, count: 512)).senseTriple! == (0x05, 0x21, 0x00))
        // RDPROTECT without protection information.
        #expect(harness.run([0x28, 0x20, 0, 0, 0, 0, 0, 0, 1, 0]).senseTriple! == (0x05, 0x24, 0x00))
        // READ(6) with transfer length 0 reads 256 blocks.
        #expect(harness.run([0x08, 0, 0, 0, 0, 0]).data.readableBytes == 256 * 512)
    }

    @Test func shortWriteDataWritesOnlyWhatWasSentAndSaysSo() throws {
        let harness = try SCSITestUnit()
        #expect(harness.write16(0, [UInt8](repeating: 0x61, count: 1024)).status == SCSIStatus.good)
        let result = harness.run([0x2A, 0, 0, 0, 0, 0, 0, 0, 2, 0], [UInt8](repeating: 0x62, count: 512))
        #expect(result.status == SCSIStatus.good)
        #expect(result.dataOutLength == 1024)
        #expect(harness.read16(0, 2).bytes == [UInt8](repeating: 0x62, count: 512) + [UInt8](repeating: 0x61, count: 512))
    }

    @Test func compareAndWriteWritesOnlyOnMatchAndReportsOffset() throws {
        let harness = try SCSITestUnit()
        #expect(harness.write16(5, [UInt8](repeating: 0x41, count: 512)).status == SCSIStatus.good)
        let caw: [UInt8] = [0x89, 0] + SCSITestUnit.be(5, 8) + [0, 0, 0, 1, 0, 0]
        var mismatch = [UInt8](repeating: 0x41, count: 512)
        mismatch[100] = 0x42
        let failed = harness.run(caw, mismatch + [UInt8](repeating: 0x43, count: 512))
        #expect(failed.senseTriple! == (0x0E, 0x1D, 0x00))
        #expect(failed.sense?.information == 100)
        #expect(harness.read16(5, 1).bytes == [UInt8](repeating: 0x41, count: 512))
        #expect(harness.run(caw, [UInt8](repeating: 0x41, count: 512) + [UInt8](repeating: 0x43, count: 512)).status == SCSIStatus.good)
        #expect(harness.read16(5, 1).bytes == [UInt8](repeating: 0x43, count: 512))
        // The data must be both halves exactly.
        #expect(harness.run(caw, [UInt8](repeating: 0x41, count: 512)).senseTriple! == (0x05, 0x24, 0x00))
    }

    @Test func compareAndWriteIsAtomicAgainstConcurrentWrites() async throws {
        let harness = try SCSITestUnit()
        #expect(harness.write16(0, [UInt8](repeating: 0, count: 512)).status == SCSIStatus.good)
        // Many CAWs each flip 0 -> 1 -> 0 ... only one per value may win at a time.
        let unit = harness.unit
        let nexus = harness.first
        let wins = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    var won = 0
                    for _ in 0..<100 {
                        let cdb: [UInt8] = [0x89, 0] + SCSITestUnit.be(0, 8) + [0, 0, 0, 1, 0, 0]
                        let data = [UInt8](repeating: 0, count: 512) + [UInt8](repeating: 0, count: 511) + [1]
                        if unit.execute(SCSIRequest(cdb: cdb, dataOut: ByteBuffer(bytes: data), nexus: nexus)).status == SCSIStatus.good {
                            won += 1
                            let back: [UInt8] = [0x89, 0] + SCSITestUnit.be(0, 8) + [0, 0, 0, 1, 0, 0]
                            let undo = [UInt8](repeating: 0, count: 511) + [1] + [UInt8](repeating: 0, count: 512)
                            #expect(unit.execute(SCSIRequest(cdb: back, dataOut: ByteBuffer(bytes: undo), nexus: nexus)).status == SCSIStatus.good)
                        }
                    }
                    return won
                }
            }
            return await group.reduce(0, +)
        }
        #expect(wins > 0)
        #expect(harness.read16(0, 1).bytes == [UInt8](repeating: 0, count: 512))
    }

    @Test func verifyComparesWhenAsked() throws {
        let harness = try SCSITestUnit()
        #expect(harness.write16(3, [UInt8](repeating: 7, count: 512)).status == SCSIStatus.good)
        #expect(harness.run([0x2F, 0x02, 0, 0, 0, 3, 0, 0, 1, 0], [UInt8](repeating: 7, count: 512)).status == SCSIStatus.good)
        #expect(harness.run([0x2F, 0x02, 0, 0, 0, 3, 0, 0, 1, 0], [UInt8](repeating: 8, count: 512)).senseTriple! == (0x0E, 0x1D, 0x00))
        #expect(harness.run([0x2F, 0x00, 0, 0, 0, 3, 0, 0, 1, 0]).status == SCSIStatus.good)
    }

    @Test func inquiryAndVPDPages() throws {
        let harness = try SCSITestUnit()
        let standard = harness.run([0x12, 0, 0, 0, 255, 0]).bytes
        #expect(standard.count == 96 && standard[2] == 0x06 && standard[7] & 0x02 != 0 && standard[5] == 0)
        let pages = harness.run([0x12, 1, 0x00, 0, 255, 0]).bytes
        #expect(Array(pages[4...]) == [0x00, 0x80, 0x83, 0xB0, 0xB1, 0xB2])
        let provisioning = harness.run([0x12, 1, 0xB2, 0, 255, 0]).bytes
        #expect(provisioning[5] & 0xE4 == 0xE4 && provisioning[6] & 0x07 == 0x02)
        let limits = harness.run([0x12, 1, 0xB0, 0, 255, 0]).bytes
        #expect(limits[5] == 255)
        #expect(harness.run([0x12, 1, 0x99, 0, 255, 0]).senseTriple! == (0x05, 0x24, 0x00))
        #expect(harness.run([0x12, 0, 0, 0, 10, 0]).bytes.count == 10)
        let capacity = harness.run([0x9E, 0x10] + [UInt8](repeating: 0, count: 8) + [0, 0, 0, 32, 0, 0]).bytes
        #expect(capacity[14] & 0xC0 == 0xC0)
    }

    @Test func modeSenseAndSelect() throws {
        let harness = try SCSITestUnit()
        let all = harness.run([0x1A, 0x08, 0x3F, 0, 255, 0]).bytes
        #expect(Int(all[0]) + 1 == all.count && all[2] & 0x10 != 0)
        let caching = harness.run([0x1A, 0x08, 0x08, 0, 255, 0]).bytes
        #expect(caching[4] == 0x08 && caching[6] & 0x04 != 0)
        // Turn the write cache off: allowed, and the other nexus hears MODE PARAMETERS CHANGED.
        var page = Array(caching[4...])
        page[2] &= ~0x04
        #expect(harness.run([0x15, 0x10, 0, 0, UInt8(4 + page.count), 0], [0, 0, 0, 0] + page).status == SCSIStatus.good)
        #expect(harness.run([0x1A, 0x08, 0x08, 0, 255, 0]).bytes[6] & 0x04 == 0)
        #expect(harness.run([0, 0, 0, 0, 0, 0], nexus: harness.second).senseTriple! == (0x06, 0x2A, 0x01))
        // A bit that is not changeable is refused.
        page[3] = 0xFF
        #expect(harness.run([0x15, 0x10, 0, 0, UInt8(4 + page.count), 0], [0, 0, 0, 0] + page).senseTriple! == (0x05, 0x26, 0x00))
        #expect(harness.run([0x1A, 0x08, 0xC8, 0, 255, 0]).senseTriple! == (0x05, 0x39, 0x00))
    }

    @Test func reportSupportedOperationCodes() throws {
        let harness = try SCSITestUnit()
        let all = harness.run([0xA3, 0x0C, 0x80, 0, 0, 0, 0, 0, 0x10, 0, 0, 0]).bytes
        let length = Int(all[0]) << 24 | Int(all[1]) << 16 | Int(all[2]) << 8 | Int(all[3])
        #expect(length % 20 == 0 && length + 4 == all.count)
        let one = harness.run([0xA3, 0x0C, 0x01, 0x89, 0, 0, 0, 0, 1, 0, 0, 0]).bytes
        #expect(one[1] & 0x07 == 0x03 && one[4] == 0x89)
        #expect(harness.run([0xA3, 0x0C, 0x01, 0x9E, 0, 0, 0, 0, 1, 0, 0, 0]).senseTriple! == (0x05, 0x24, 0x00))
        #expect(harness.run([0xA3, 0x0C, 0x02, 0x9E, 0, 0x10, 0, 0, 1, 0, 0, 0]).bytes[1] & 0x07 == 0x03)
        // By service action for a command that has none: the sense points at the options byte, so
        // the initiator does not take it for "REPORT SUPPORTED OPERATION CODES not implemented".
        let refused = harness.run([0xA3, 0x0C, 0x02, 0x00, 0, 0, 0, 0, 1, 0, 0, 0])
        #expect(refused.senseTriple! == (0x05, 0x24, 0x00))
        #expect(Array(refused.sense!.fixedBytes[15..<18]) == [0xC0, 0x00, 0x02])
        var descriptor = refused.sense!
        descriptor.descriptorFormat = true
        #expect(Array(descriptor.bytes.suffix(8)) == [0x02, 0x06, 0, 0, 0xC0, 0x00, 0x02, 0])
    }

    @Test func unknownOpcodesAndShortCDBs() throws {
        let harness = try SCSITestUnit()
        #expect(harness.run([0xC5]).senseTriple! == (0x05, 0x20, 0x00))
        let short = harness.unit.execute(SCSIRequest(cdb: [0x88, 0], nexus: harness.first))
        #expect(short.senseTriple! == (0x05, 0x20, 0x00))
        #expect(harness.unit.execute(SCSIRequest(cdb: [], nexus: harness.first)).status == SCSIStatus.checkCondition)
    }
}
