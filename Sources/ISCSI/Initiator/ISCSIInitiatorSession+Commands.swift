import NIOCore

/// The SCSI commands the load generators and VMs use, as typed calls.
extension ISCSIInitiatorSession {
    /// A command that did not end GOOD.
    public struct CommandFailed: Error, Sendable, CustomStringConvertible {
        public var status: UInt8
        public var sense: (key: UInt8, code: UInt8, qualifier: UInt8)?

        public var description: String {
            guard let sense else { return "SCSI status 0x\(String(status, radix: 16))" }
            return "SCSI status 0x\(String(status, radix: 16)), sense key 0x\(String(sense.key, radix: 16)) ASC 0x\(String(sense.code, radix: 16)) ASCQ 0x\(String(sense.qualifier, radix: 16))"
        }
    }

    func checked(_ outcome: ISCSICommandOutcome) throws -> ISCSICommandOutcome {
        guard outcome.status == 0 else { throw CommandFailed(status: outcome.status, sense: outcome.sense) }
        return outcome
    }

    public static func read16(lba: UInt64, blocks: UInt32, blockSize: Int) -> ISCSIInitiatorRequest {
        ISCSIInitiatorRequest(cdb: [0x88, 0] + bigEndian(lba) + bigEndian(blocks) + [0, 0], expectedDataIn: Int(blocks) * blockSize)
    }

    public static func write16(lba: UInt64, data: ByteBuffer, blockSize: Int, fua: Bool = false) -> ISCSIInitiatorRequest {
        let blocks = UInt32(data.readableBytes / blockSize)
        return ISCSIInitiatorRequest(cdb: [0x8A, fua ? 0x08 : 0] + bigEndian(lba) + bigEndian(blocks) + [0, 0], dataOut: data)
    }

    public func read(lba: UInt64, blocks: UInt32, blockSize: Int = 512) async throws -> ByteBuffer {
        try checked(try await execute(Self.read16(lba: lba, blocks: blocks, blockSize: blockSize))).data
    }

    public func write(lba: UInt64, data: ByteBuffer, blockSize: Int = 512, fua: Bool = false) async throws {
        _ = try checked(try await execute(Self.write16(lba: lba, data: data, blockSize: blockSize, fua: fua)))
    }

    public func synchronizeCache() async throws {
        _ = try checked(try await execute(ISCSIInitiatorRequest(cdb: [0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0])))
    }

    public func testUnitReady() async throws -> ISCSICommandOutcome {
        try await execute(ISCSIInitiatorRequest(cdb: [0, 0, 0, 0, 0, 0]))
    }

    /// TEST UNIT READY until no unit attention is pending (at most 8 tries).
    public func clearUnitAttentions() async throws {
        for _ in 0..<8 {
            let outcome = try await testUnitReady()
            if outcome.status == 0 { return }
            guard outcome.sense?.key == 0x06 else { _ = try checked(outcome); return }
        }
    }

    public func inquiry(page: UInt8? = nil, allocationLength: UInt16 = 255) async throws -> [UInt8] {
        let cdb: [UInt8] = [0x12, page == nil ? 0 : 1, page ?? 0, UInt8(allocationLength >> 8), UInt8(allocationLength & 0xFF), 0]
        let outcome = try checked(try await execute(ISCSIInitiatorRequest(cdb: cdb, expectedDataIn: Int(allocationLength))))
        return Array(outcome.data.readableBytesView)
    }

    /// READ CAPACITY (16): the number of blocks and the block size.
    public func readCapacity() async throws -> (blocks: UInt64, blockSize: Int) {
        let cdb: [UInt8] = [0x9E, 0x10] + [UInt8](repeating: 0, count: 8) + Self.bigEndian(UInt32(32)) + [0, 0]
        var data = try checked(try await execute(ISCSIInitiatorRequest(cdb: cdb, expectedDataIn: 32))).data
        guard let last = data.readInteger(as: UInt64.self), let size = data.readInteger(as: UInt32.self) else {
            throw ISCSIInitiatorError.protocolViolation("short READ CAPACITY (16) data")
        }
        return (last + 1, Int(size))
    }

    static func bigEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        (0..<(T.bitWidth / 8)).reversed().map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
    }
}
