import NIOCore

/// Thin provisioning (SBC-3 §4.7): WRITE SAME with UNMAP, UNMAP and GET LBA STATUS. Deallocated
/// blocks read as zeros (LBPRZ), so zeroing a range and deallocating it are the same to a reader.
extension SCSILogicalUnit {
    /// Bytes WRITE SAME writes per call: replicated blocks are written a chunk at a time.
    static let writeSameChunkBytes = 1 << 20

    func writeSame(_ cdb: SCSICDB, data: ByteBuffer) throws -> SCSICommandResult {
        let is16 = cdb.opcode == 0x93
        let lba = is16 ? cdb.be64(2) : UInt64(cdb.be32(2))
        var blocks = is16 ? UInt64(cdb.be32(10)) : UInt64(cdb.be16(7))
        let unmap = cdb[1] & 0x08 != 0
        let noDataOut = is16 && cdb[1] & 0x01 != 0  // NDOB: the block is zeros and is not sent
        let dataBytes = noDataOut ? 0 : device.blockSize
        func fail(_ sense: SCSISense) -> SCSICommandResult { SCSICommandResult.check(sense).expecting(dataOut: dataBytes) }
        // WRPROTECT needs protection information; ANCHOR is not supported (ANC_SUP=0); PBDATA and
        // LBDATA are obsolete.
        guard cdb[1] & 0xF6 == 0 else { return fail(.invalidFieldInCDB) }
        guard inRange(lba, blocks) else { return fail(.lbaOutOfRange) }
        // Zero blocks (WSNZ=0): from the LBA to the end of the medium.
        if blocks == 0 { blocks = device.blockCount - lba }
        guard data.readableBytes == dataBytes else { return fail(Self.invalidFieldInInformationUnit) }
        let pattern = noDataOut ? ByteBuffer(repeating: 0, count: device.blockSize) : data
        // Writing data is bounded (it takes time); deallocating is not.
        guard unmap || blocks <= maximumWriteSameBlocks else { return fail(.invalidFieldInCDB) }
        guard blocks > 0 else { return SCSICommandResult.good().expecting(dataOut: dataBytes) }
        // UNMAP: deallocate whatever the data (SBC-3 lets the unit unmap; LBPRZ says they read as zeros).
        if unmap {
            try rangeLock.withLock(block: lba, count: blocks) { try device.deallocate(atBlock: lba, count: Int(blocks)) }
            return SCSICommandResult.good().expecting(dataOut: dataBytes)
        }
        let chunkBlocks = UInt64(max(1, Self.writeSameChunkBytes / device.blockSize))
        var chunk = ByteBufferAllocator().buffer(capacity: Int(min(blocks, chunkBlocks)) * device.blockSize)
        for _ in 0..<min(blocks, chunkBlocks) { chunk.writeImmutableBuffer(pattern) }
        let fua = forceUnitAccess(false)
        var done: UInt64 = 0
        while done < blocks {
            let count = min(chunkBlocks, blocks - done)
            let piece = chunk.getSlice(at: chunk.readerIndex, length: Int(count) * device.blockSize) ?? chunk
            try rangeLock.withLock(block: lba + done, count: count) {
                try device.write(piece, atBlock: lba + done, forceUnitAccess: fua)
            }
            done += count
        }
        return SCSICommandResult.good().expecting(dataOut: dataBytes)
    }

    func unmap(_ cdb: SCSICDB, data: ByteBuffer) throws -> SCSICommandResult {
        let length = Int(cdb.be16(7))
        func fail(_ sense: SCSISense) -> SCSICommandResult { SCSICommandResult.check(sense).expecting(dataOut: length) }
        guard cdb[1] & 0x01 == 0 else { return fail(.invalidFieldInCDB) }  // ANCHOR (ANC_SUP=0)
        guard data.readableBytes == length else { return fail(Self.invalidFieldInInformationUnit) }
        guard length > 0 else { return SCSICommandResult.good().expecting(dataOut: 0) }
        guard length >= 8 else { return fail(.parameterListLengthError) }
        let list = Array(data.readableBytesView)
        let descriptorBytes = Int(SCSIBytes.read(list, 2, 2))
        // The descriptors the list really holds; a partial one at the end is ignored.
        let count = min(descriptorBytes, length - 8) / 16
        guard count <= Self.maximumUnmapDescriptors else { return fail(.invalidFieldInParameterList) }
        var ranges: [(lba: UInt64, blocks: UInt64)] = []
        for index in 0..<count {
            let offset = 8 + index * 16
            let range = (lba: SCSIBytes.read(list, offset, 8), blocks: SCSIBytes.read(list, offset + 8, 4))
            guard inRange(range.lba, range.blocks) else { return fail(.lbaOutOfRange) }
            if range.blocks > 0 { ranges.append(range) }
        }
        for range in ranges {
            try rangeLock.withLock(block: range.lba, count: range.blocks) {
                try device.deallocate(atBlock: range.lba, count: Int(range.blocks))
            }
        }
        return SCSICommandResult.good().expecting(dataOut: length)
    }

    func getLBAStatus(_ cdb: SCSICDB) throws -> SCSICommandResult {
        let start = cdb.be64(2)
        let allocation = Int(cdb.be32(10))
        let capacity = device.blockCount
        guard start < capacity else { return .check(.lbaOutOfRange) }
        // As many descriptors as fit the allocation length (at least one, at most 64).
        let wanted = min(64, max(1, (allocation - 8) / 16))
        var descriptors: [UInt8] = []
        var lba = start
        for _ in 0..<wanted where lba < capacity {
            let run = try device.mappingRun(atBlock: lba, limit: min(capacity - lba, UInt64(UInt32.max)))
            let blocks = max(1, min(run.blocks, capacity - lba))
            descriptors += SCSIBytes.be64(lba) + SCSIBytes.be32(UInt32(blocks)) + [run.mapped ? 0x00 : 0x01, 0, 0, 0]
            lba += blocks
        }
        let bytes = SCSIBytes.be32(UInt32(4 + descriptors.count)) + [0, 0, 0, 0] + descriptors
        return .good(bytes, allocationLength: allocation)
    }
}
