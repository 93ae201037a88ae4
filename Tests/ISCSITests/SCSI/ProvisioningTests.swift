import ISCSI
import NIOCore
import Testing

struct ProvisioningTests {
    static let megabyte = 1 << 20

    func lbaStatus(_ harness: SCSITestUnit, _ lba: UInt64) -> [(lba: UInt64, blocks: UInt32, mapped: Bool)] {
        let bytes = harness.run([0x9E, 0x12] + SCSITestUnit.be(lba, 8) + [0, 0, 0x10, 0, 0, 0]).bytes
        return stride(from: 8, to: bytes.count - 15, by: 16).map { offset in
            (bytes[offset..<(offset + 8)].reduce(0) { $0 << 8 | UInt64($1) }, bytes[(offset + 8)..<(offset + 12)].reduce(0) { $0 << 8 | UInt32($1) }, bytes[offset + 12] == 0)
        }
    }

    @Test func unmapFreesBlocksAndGetLBAStatusAgrees() throws {
        let harness = try SCSITestUnit()
        let before = harness.allocatedBytes
        // 2 MiB of data at LBA 2048 (1 MiB in).
        let data = [UInt8](repeating: 0x5A, count: 2 * Self.megabyte)
        #expect(harness.run([0x8A, 0x08] + SCSITestUnit.be(2048, 8) + SCSITestUnit.be(4096, 4) + [0, 0], data).status == SCSIStatus.good)
        #expect(harness.allocatedBytes >= before + 2 * Self.megabyte)
        let mapped = lbaStatus(harness, 2048)
        #expect(mapped.first?.mapped == true && mapped.first?.blocks == 4096)
        #expect(lbaStatus(harness, 0).first.map { !$0.mapped && $0.blocks == 2048 } == true)
        // UNMAP the first MiB of it.
        let list: [UInt8] = [0, 22, 0, 16, 0, 0, 0, 0] + SCSITestUnit.be(2048, 8) + SCSITestUnit.be(2048, 4) + [0, 0, 0, 0]
        #expect(harness.run([0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0], list).status == SCSIStatus.good)
        #expect(harness.allocatedBytes <= before + Self.megabyte + 64 * 1024)
        #expect(lbaStatus(harness, 2048).first.map { !$0.mapped && $0.blocks >= 2048 } == true)
        #expect(lbaStatus(harness, 4096).first.map { $0.mapped && $0.blocks == 2048 } == true)
        #expect(harness.read16(2048, 1).bytes == [UInt8](repeating: 0, count: 512))
    }

    @Test func writeSameWithUnmapDeallocatesAndWithoutWritesThePattern() throws {
        let harness = try SCSITestUnit()
        let pattern = [UInt8](repeating: 0xEE, count: 512)
        #expect(harness.run([0x93, 0] + SCSITestUnit.be(100, 8) + SCSITestUnit.be(2048, 4) + [0, 0], pattern).status == SCSIStatus.good)
        #expect(harness.read16(100, 2048).bytes == [UInt8](repeating: 0xEE, count: 2048 * 512))
        let before = harness.allocatedBytes
        #expect(harness.run([0x93, 0x08] + SCSITestUnit.be(0, 8) + SCSITestUnit.be(4096, 4) + [0, 0], [UInt8](repeating: 0, count: 512)).status == SCSIStatus.good)
        #expect(harness.allocatedBytes < before)
        #expect(harness.read16(100, 1).bytes == [UInt8](repeating: 0, count: 512))
        // ANCHOR is not supported; beyond the end is out of range.
        #expect(harness.run([0x93, 0x10] + SCSITestUnit.be(0, 8) + SCSITestUnit.be(1, 4) + [0, 0], pattern).senseTriple! == (0x05, 0x24, 0x00))
        let end = harness.device.blockCount
        #expect(harness.run([0x93, 0] + SCSITestUnit.be(end, 8) + SCSITestUnit.be(1, 4) + [0, 0], pattern).senseTriple! == (0x05, 0x21, 0x00))
    }

    @Test func unmapParameterListValidation() throws {
        let harness = try SCSITestUnit()
        #expect(harness.run([0x42, 0, 0, 0, 0, 0, 0, 0, 4, 0], [0, 2, 0, 0]).senseTriple! == (0x05, 0x1A, 0x00))
        #expect(harness.run([0x42, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]).senseTriple! == (0x05, 0x24, 0x00))
        let beyond: [UInt8] = [0, 22, 0, 16, 0, 0, 0, 0] + SCSITestUnit.be(harness.device.blockCount, 8) + SCSITestUnit.be(1, 4) + [0, 0, 0, 0]
        #expect(harness.run([0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0], beyond).senseTriple! == (0x05, 0x21, 0x00))
        #expect(harness.run([0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0]).status == SCSIStatus.good)
    }

    @Test func capacityChangeIsAnnounced() throws {
        let harness = try SCSITestUnit()
        try harness.device.grow(toBytes: 32 << 20)
        harness.unit.capacityChanged()
        #expect(harness.run([0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0]).senseTriple! == (0x06, 0x2A, 0x09))
        let capacity = harness.run([0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0]).bytes
        #expect(capacity[0..<4].reduce(0) { $0 << 8 | UInt32($1) } == UInt32((32 << 20) / 512 - 1))
    }
}
