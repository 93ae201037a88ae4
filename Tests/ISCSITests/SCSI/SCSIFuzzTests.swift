import ISCSI
import NIOCore
import Testing

/// Random CDBs and parameter lists never trap, and always end in GOOD, or CHECK CONDITION with
/// sense, or RESERVATION CONFLICT.
struct SCSIFuzzTests {
    /// xorshift64*: reproducible from the seed printed on failure.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            return state &* 2_685_821_657_736_338_717
        }
    }

    @Test(arguments: [UInt64(1), 2, 3, 0xDEAD_BEEF])
    func randomCommandsNeverTrap(seed: UInt64) throws {
        let harness = try SCSITestUnit(sizeBytes: 4 << 20)
        var random = Generator(state: seed)
        let nexuses = [harness.first, harness.second]
        // Interesting first bytes: every opcode we implement plus random ones.
        let opcodes: [UInt8] = [
            0x00, 0x03, 0x08, 0x0A, 0x12, 0x15, 0x16, 0x17, 0x1A, 0x1B, 0x1D, 0x1E, 0x25, 0x28, 0x2A, 0x2E, 0x2F, 0x34, 0x35, 0x37,
            0x41, 0x42, 0x55, 0x5A, 0x5E, 0x5F, 0x88, 0x89, 0x8A, 0x8B, 0x8E, 0x8F, 0x90, 0x91, 0x93, 0x9E, 0xA0, 0xA3, 0xA8, 0xAA,
            0xAE, 0xAF, 0xB7,
        ]
        for iteration in 0..<3000 {
            let opcode = iteration % 5 == 0 ? UInt8.random(in: 0...255, using: &random) : opcodes.randomElement(using: &random) ?? 0
            let length = Int.random(in: 0...20, using: &random)
            var cdb = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            if !cdb.isEmpty { cdb[0] = opcode }
            // Small LBAs and lengths often enough to reach the I/O paths.
            if cdb.count >= 16, Bool.random(using: &random) {
                for index in 2..<10 { cdb[index] = 0 }
                cdb[9] = UInt8.random(in: 0...255, using: &random)
                for index in 10..<13 { cdb[index] = 0 }
                cdb[13] = UInt8.random(in: 0...8, using: &random)
            }
            let dataLength = [0, 8, 16, 24, 512, 1024, Int.random(in: 0...4096, using: &random)].randomElement(using: &random) ?? 0
            var data = (0..<dataLength).map { _ in UInt8.random(in: 0...255, using: &random) }
            if dataLength >= 24, Bool.random(using: &random) {
                // Plausible parameter-list headers (UNMAP, MODE SELECT) with hostile lengths.
                data[0] = 0
                data[1] = UInt8.random(in: 0...40, using: &random)
                data[2] = 0
                data[3] = UInt8.random(in: 0...40, using: &random)
            }
            let nexus = nexuses.randomElement(using: &random) ?? harness.first
            let result = harness.unit.execute(SCSIRequest(cdb: cdb, dataOut: ByteBuffer(bytes: data), nexus: nexus, expectedDataTransferLength: dataLength))
            switch result.status {
            case SCSIStatus.good, SCSIStatus.reservationConflict: break
            case SCSIStatus.checkCondition: #expect(result.sense != nil, "seed \(seed) iteration \(iteration): CHECK CONDITION without sense for \(cdb)")
            default: Issue.record("seed \(seed) iteration \(iteration): status \(result.status) for \(cdb)")
            }
            if iteration % 500 == 0 { harness.unit.reset(initiatedBy: nexus) }
        }
    }
}
