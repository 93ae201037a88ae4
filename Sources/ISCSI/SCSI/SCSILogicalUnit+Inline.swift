import NIOCore

extension SCSILogicalUnit {
    /// Opcodes that touch no storage: always safe on an event loop.
    static let inlineOpcodes: Set<UInt8> = [0x00, 0x03, 0x12, 0xA0, 0xA3, 0x25, 0x1A, 0x5A, 0x5E]
    static let readOpcodes: Set<UInt8> = [0x08, 0x28, 0xA8, 0x88]
    static let bufferedWriteOpcodes: Set<UInt8> = [0x0A, 0x2A, 0xAA, 0x8A]
    static let maximumInlineWriteBytes = 256 << 10

    /// Runs the command on the caller's thread when that cannot wait for the disk, sparing the
    /// thread-pool round trip that otherwise dominates a 4 KiB command's cost: commands that touch
    /// no storage, and reads the page cache holds whole (RWF_NOWAIT). With `allowBufferedWrites`,
    /// also writes without FUA while the write cache is on (they only copy into the page cache,
    /// which can still stall under writeback pressure, so the transport watches and backs off).
    /// nil: call ``execute(_:)`` from a thread pool instead.
    public func executeWithoutBlocking(_ request: SCSIRequest, allowBufferedWrites: Bool) -> SCSICommandResult? {
        guard let opcode = request.cdb.first, let length = SCSICDB.length(ofOpcode: opcode), request.cdb.count >= length else { return nil }
        if Self.inlineOpcodes.contains(opcode) || (opcode == 0x9E && request.cdb[1] & 0x1F == 0x10) {
            return execute(request)
        }
        let cdb = SCSICDB(request.cdb)
        if Self.readOpcodes.contains(opcode) {
            let (lba, blocks) = Self.transfer(cdb)
            // Anything unusual (out of range, too long, empty) takes the ordinary path.
            guard blocks > 0, blocks <= maximumTransferBlocks, inRange(lba, UInt64(blocks)) else { return nil }
            guard let data = try? device.readIfCached(atBlock: lba, count: blocks) else { return nil }
            var prefetched = request
            prefetched.prefetched = data
            return execute(prefetched)
        }
        // Large writes go to the I/O threads: several of them copy into the page cache in parallel.
        if allowBufferedWrites, device.writesAreBuffered, Self.bufferedWriteOpcodes.contains(opcode), opcode == 0x0A || request.cdb[1] & 0x08 == 0,
            request.dataOut.readableBytes <= Self.maximumInlineWriteBytes, state.withLock({ $0.mode.writeCacheEnabled })
        {
            return execute(request)
        }
        return nil
    }
}
