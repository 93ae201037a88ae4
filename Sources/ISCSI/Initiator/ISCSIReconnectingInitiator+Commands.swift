import NIOCore

/// The typed block commands, over whatever session is live.
extension ISCSIReconnectingInitiator {
    public func read(lba: UInt64, blocks: UInt32, blockSize: Int) async throws -> ByteBuffer {
        try Self.checked(try await execute(ISCSIInitiatorSession.read16(lba: lba, blocks: blocks, blockSize: blockSize))).data
    }

    public func write(lba: UInt64, data: ByteBuffer, blockSize: Int, fua: Bool = false) async throws {
        _ = try Self.checked(try await execute(ISCSIInitiatorSession.write16(lba: lba, data: data, blockSize: blockSize, fua: fua)))
    }

    /// Logs in (if needed) and reads the capacity: what connecting a disk means.
    public func readCapacity() async throws -> (blocks: UInt64, blockSize: Int) {
        try await currentSession().readCapacity()
    }

    static func checked(_ outcome: ISCSICommandOutcome) throws -> ISCSICommandOutcome {
        guard outcome.status == 0 else { throw ISCSIInitiatorSession.CommandFailed(status: outcome.status, sense: outcome.sense) }
        return outcome
    }
}
