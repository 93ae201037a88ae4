import NIOCore

/// READ, WRITE, WRITE AND VERIFY, VERIFY, COMPARE AND WRITE, ORWRITE, SYNCHRONIZE CACHE, PRE-FETCH.
extension SCSILogicalUnit {
    /// The initiator sent a different amount of data than the CDB needs: nothing is written
    /// (FCP-4/SAM-5 allow refusing), and the transport reports the residual.
    static let invalidFieldInInformationUnit = SCSISense(key: 0x05, code: 0x0E, qualifier: 0x03)

    /// The LBA and block count of a READ/WRITE/VERIFY-shaped CDB of any size.
    static func transfer(_ cdb: SCSICDB) -> (lba: UInt64, blocks: Int) {
        switch cdb.opcode >> 5 {
        case 0:
            // 6-byte commands: 21-bit LBA, and zero blocks means 256.
            return (UInt64(cdb.be24(1) & 0x1F_FFFF), cdb[4] == 0 ? 256 : Int(cdb[4]))
        case 1, 2: return (UInt64(cdb.be32(2)), Int(cdb.be16(7)))
        case 5: return (UInt64(cdb.be32(2)), Int(cdb.be32(6)))
        default: return (cdb.be64(2), Int(cdb.be32(10)))
        }
    }

    /// Whether `[lba, lba + blocks)` lies on the medium.
    func inRange(_ lba: UInt64, _ blocks: UInt64) -> Bool {
        let capacity = device.blockCount
        return lba <= capacity && blocks <= capacity - lba
    }

    func byteCount(_ blocks: Int) -> Int { blocks * device.blockSize }

    // MARK: Read

    func read(_ cdb: SCSICDB, prefetched: ByteBuffer? = nil) throws -> SCSICommandResult {
        let (lba, blocks) = Self.transfer(cdb)
        // RDPROTECT needs protection information, which this unit does not keep.
        guard cdb.opcode == 0x08 || cdb[1] >> 5 == 0 else { return .check(.invalidFieldInCDB) }
        guard inRange(lba, UInt64(blocks)) else { return .check(.lbaOutOfRange) }
        guard blocks <= maximumTransferBlocks else { return .check(.invalidFieldInCDB) }
        guard blocks > 0 else { return .good() }
        if let prefetched, prefetched.readableBytes == byteCount(blocks) { return .good(prefetched) }
        return .good(try device.read(atBlock: lba, count: blocks))
    }

    // MARK: Write

    /// Checks common to every command that writes blocks: returns the failure, or nil.
    func writeCheck(lba: UInt64, blocks: Int, protectField: UInt8) -> SCSICommandResult? {
        guard protectField == 0 else { return .check(.invalidFieldInCDB) }
        guard inRange(lba, UInt64(blocks)) else { return .check(.lbaOutOfRange) }
        guard blocks <= maximumTransferBlocks else { return .check(.invalidFieldInCDB) }
        return nil
    }

    /// Whether a write must be durable before GOOD: FUA, or the write cache switched off.
    func forceUnitAccess(_ fua: Bool) -> Bool {
        fua || !state.withLock { $0.mode.writeCacheEnabled }
    }

    func write(_ cdb: SCSICDB, data: ByteBuffer) throws -> SCSICommandResult {
        let (lba, blocks) = Self.transfer(cdb)
        let dataBytes = byteCount(blocks)
        let isWriteAndVerify = [0x2E, 0xAE, 0x8E].contains(cdb.opcode)
        // WRITE AND VERIFY: BYTCHK 0 or 1 (verifying what was just written is the write itself).
        if isWriteAndVerify, (cdb[1] >> 1) & 0x03 > 1 { return SCSICommandResult.check(.invalidFieldInCDB).expecting(dataOut: dataBytes) }
        let protect = cdb.opcode == 0x0A ? 0 : cdb[1] >> 5
        if let failure = writeCheck(lba: lba, blocks: blocks, protectField: protect) {
            return failure.expecting(dataOut: dataBytes)
        }
        guard blocks > 0, data.readableBytes > 0 else { return SCSICommandResult.good().expecting(dataOut: dataBytes) }
        let fua = forceUnitAccess(isWriteAndVerify || (cdb.opcode != 0x0A && cdb[1] & 0x08 != 0))
        try rangeLock.withLock(block: lba, count: UInt64(blocks)) {
            try writeTransferred(data, atBlock: lba, dataBytes: dataBytes, forceUnitAccess: fua)
        }
        return SCSICommandResult.good().expecting(dataOut: dataBytes)
    }

    /// Writes what the initiator sent, bounded by what the CDB asked for. When the initiator sent
    /// less than the CDB's length (Expected Data Transfer Length short), only the bytes it sent
    /// are written, as FCP-4 and libiscsi expect; a partial last block is merged with the medium.
    func writeTransferred(_ data: ByteBuffer, atBlock lba: UInt64, dataBytes: Int, forceUnitAccess fua: Bool) throws {
        let usable = min(data.readableBytes, dataBytes)
        let whole = usable / device.blockSize
        let tail = usable % device.blockSize
        if whole > 0, let blocks = data.getSlice(at: data.readerIndex, length: whole * device.blockSize) {
            try device.write(blocks, atBlock: lba, forceUnitAccess: fua)
        }
        if tail > 0, let partial = data.getSlice(at: data.readerIndex + whole * device.blockSize, length: tail) {
            var block = try device.read(atBlock: lba + UInt64(whole), count: 1)
            block.setBuffer(partial, at: block.readerIndex)
            try device.write(block, atBlock: lba + UInt64(whole), forceUnitAccess: fua)
        }
    }

    // MARK: Verify

    func verify(_ cdb: SCSICDB, data: ByteBuffer) throws -> SCSICommandResult {
        let (lba, blocks) = Self.transfer(cdb)
        let byteCheck = (cdb[1] >> 1) & 0x03
        // BYTCHK 0: medium only; 1: one block of data per block; 3: one block compared with each.
        let dataBytes = byteCheck == 0 ? 0 : byteCheck == 3 ? (blocks > 0 ? device.blockSize : 0) : byteCount(blocks)
        func fail(_ sense: SCSISense) -> SCSICommandResult { SCSICommandResult.check(sense).expecting(dataOut: dataBytes) }
        guard cdb[1] >> 5 == 0, byteCheck != 2 else { return fail(.invalidFieldInCDB) }
        guard inRange(lba, UInt64(blocks)) else { return fail(.lbaOutOfRange) }
        guard byteCheck == 0 || blocks <= maximumTransferBlocks else { return fail(.invalidFieldInCDB) }
        guard data.readableBytes == dataBytes else { return fail(Self.invalidFieldInInformationUnit) }
        guard byteCheck != 0, blocks > 0 else { return SCSICommandResult.good().expecting(dataOut: dataBytes) }
        let stored = try device.read(atBlock: lba, count: blocks)
        let offset: Int? = stored.withUnsafeReadableBytes { medium in
            data.withUnsafeReadableBytes { given in
                for index in 0..<medium.count where medium[index] != given[byteCheck == 3 ? index % given.count : index] { return index }
                return nil
            }
        }
        if let offset { return fail(.miscompare(atOffset: offset)) }
        return SCSICommandResult.good().expecting(dataOut: dataBytes)
    }

    // MARK: Compare and write, OR write

    func compareAndWrite(_ cdb: SCSICDB, data: ByteBuffer) throws -> SCSICommandResult {
        let lba = cdb.be64(2)
        let blocks = Int(cdb[13])
        let half = byteCount(blocks)
        func fail(_ sense: SCSISense) -> SCSICommandResult { SCSICommandResult.check(sense).expecting(dataOut: 2 * half) }
        guard cdb[1] >> 5 == 0 else { return fail(.invalidFieldInCDB) }
        guard blocks <= Self.maximumCompareAndWriteBlocks else { return fail(.invalidFieldInCDB) }
        guard inRange(lba, UInt64(blocks)) else { return fail(.lbaOutOfRange) }
        // The data must be exactly the compare and the write halves: anything else means the
        // NUMBER OF LOGICAL BLOCKS field is not what the initiator meant.
        guard data.readableBytes == 2 * half else { return fail(.invalidFieldInCDB) }
        guard blocks > 0 else { return SCSICommandResult.good().expecting(dataOut: 0) }
        let fua = forceUnitAccess(cdb[1] & 0x08 != 0)
        let verifyData = data.getSlice(at: data.readerIndex, length: half) ?? ByteBuffer()
        let writeData = data.getSlice(at: data.readerIndex + half, length: half) ?? ByteBuffer()
        // The compare and the write under one lock: no other write can land in between.
        let miscompare: Int? = try rangeLock.withLock(block: lba, count: UInt64(blocks)) {
            let stored = try device.read(atBlock: lba, count: blocks)
            let offset: Int? = stored.withUnsafeReadableBytes { medium in
                verifyData.withUnsafeReadableBytes { expected in
                    for index in 0..<min(medium.count, expected.count) where medium[index] != expected[index] { return index }
                    return nil
                }
            }
            if offset == nil { try device.write(writeData, atBlock: lba, forceUnitAccess: fua) }
            return offset
        }
        if let miscompare { return fail(.miscompare(atOffset: miscompare)) }
        return SCSICommandResult.good().expecting(dataOut: 2 * half)
    }

    /// ORWRITE(16): each block becomes its old contents OR the data, atomically.
    func orWrite(_ cdb: SCSICDB, data: ByteBuffer) throws -> SCSICommandResult {
        let (lba, blocks) = Self.transfer(cdb)
        let dataBytes = byteCount(blocks)
        if let failure = writeCheck(lba: lba, blocks: blocks, protectField: cdb[1] >> 5) {
            return failure.expecting(dataOut: dataBytes)
        }
        guard data.readableBytes == dataBytes else { return SCSICommandResult.check(Self.invalidFieldInInformationUnit).expecting(dataOut: dataBytes) }
        guard blocks > 0 else { return SCSICommandResult.good().expecting(dataOut: 0) }
        let fua = forceUnitAccess(cdb[1] & 0x08 != 0)
        try rangeLock.withLock(block: lba, count: UInt64(blocks)) {
            let stored = try device.read(atBlock: lba, count: blocks)
            var merged = ByteBufferAllocator().buffer(capacity: dataBytes)
            stored.withUnsafeReadableBytes { old in
                data.withUnsafeReadableBytes { new in
                    merged.writeBytes(zip(old, new).map { $0 | $1 })
                }
            }
            try device.write(merged, atBlock: lba, forceUnitAccess: fua)
        }
        return SCSICommandResult.good().expecting(dataOut: dataBytes)
    }

    // MARK: Cache

    func synchronizeCache(_ cdb: SCSICDB) throws -> SCSICommandResult {
        let (lba, blocks) = cdb.opcode == 0x35 ? (UInt64(cdb.be32(2)), UInt64(cdb.be16(7))) : (cdb.be64(2), UInt64(cdb.be32(10)))
        guard inRange(lba, blocks) else { return .check(.lbaOutOfRange) }
        // fdatasync covers the whole file: a range is never cheaper, so sync it all.
        try device.synchronize()
        return .good()
    }

    func prefetch(_ cdb: SCSICDB) -> SCSICommandResult {
        let (lba, blocks) = cdb.opcode == 0x34 ? (UInt64(cdb.be32(2)), UInt64(cdb.be16(7))) : (cdb.be64(2), UInt64(cdb.be32(10)))
        guard inRange(lba, blocks) else { return .check(.lbaOutOfRange) }
        return .good()  // the page cache does its own read-ahead
    }
}
