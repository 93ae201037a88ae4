import NIOCore

/// INQUIRY: standard data and the vital product data pages SBC-3 asks of a thin disk.
extension SCSILogicalUnit {
    static let supportedVPDPages: [UInt8] = [0x00, 0x80, 0x83, 0xB0, 0xB1, 0xB2]

    func inquiry(_ cdb: SCSICDB, nexus: SCSINexus) -> SCSICommandResult {
        let allocation = Int(cdb.be16(3))
        guard cdb[1] & 0x01 != 0 else {
            guard cdb[2] == 0, cdb[1] & 0xFE == 0 else { return .check(.invalidFieldInCDB) }
            return .good(standardInquiry, allocationLength: allocation)
        }
        let body: [UInt8]
        switch cdb[2] {
        case 0x00: body = Self.supportedVPDPages
        case 0x80: body = Array(serial.utf8.prefix(252))
        case 0x83: body = deviceIdentification(nexus: nexus)
        case 0xB0: body = blockLimits
        case 0xB1: body = [0x00, 0x01] + [UInt8](repeating: 0, count: 58)  // medium rotation rate 1: non-rotating
        case 0xB2: body = [0x00, 0xE4, 0x02, 0x00]  // LBPU, LBPWS, LBPWS10, LBPRZ; thin provisioned
        default: return .check(.invalidFieldInCDB)
        }
        let page = [0x00, cdb[2]] + SCSIBytes.be16(UInt16(body.count)) + body
        return .good(page, allocationLength: allocation)
    }

    var standardInquiry: [UInt8] {
        // Direct access; SPC-4; HiSup with response format 2; CmdQue. No 3PC, TPGS or PROTECT.
        var page: [UInt8] = [0x00, 0x00, 0x06, 0x12, 0, 0x00, 0x00, 0x02]
        page += SCSIBytes.ascii("LUNAR", 8) + SCSIBytes.ascii("LUNAR VOLUME", 16) + SCSIBytes.ascii("0001", 4)
        page += [UInt8](repeating: 0x20, count: 20)  // vendor specific
        page += [0, 0]
        // Version descriptors: SAM-5, SPC-4, SBC-3, iSCSI.
        for descriptor: UInt16 in [0x00A0, 0x0460, 0x04C0, 0x0960] { page += SCSIBytes.be16(descriptor) }
        page += [UInt8](repeating: 0, count: 96 - page.count)
        page[4] = UInt8(page.count - 5)
        return page
    }

    func deviceIdentification(nexus: SCSINexus) -> [UInt8] {
        var designators: [UInt8] = [0x01, 0x03, 0x00, 0x08] + SCSIBytes.be64(naa)  // binary NAA, logical unit
        let vendor = SCSIBytes.ascii("LUNAR", 8) + Array(serial.utf8.prefix(64))
        designators += [0x02, 0x01, 0x00, UInt8(vendor.count)] + vendor  // ASCII T10 vendor id, logical unit
        // The target port the command came through: relative port 1 and its iSCSI name (PIV, protocol 5).
        designators += [0x51, 0x94, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01]
        designators += Self.nameDesignator(nexus.targetPort, association: 0x10)
        // The target device: the iSCSI target name.
        let targetName = nexus.targetPort.split(separator: ",t,", maxSplits: 1).first.map(String.init) ?? nexus.targetPort
        designators += Self.nameDesignator(targetName, association: 0x20)
        return designators
    }

    /// A SCSI name string designator: UTF-8, null-terminated, padded to a multiple of four.
    static func nameDesignator(_ name: String, association: UInt8) -> [UInt8] {
        var bytes = Array(name.utf8.prefix(251)) + [0]
        while bytes.count % 4 != 0 { bytes.append(0) }
        return [0x53, 0x80 | association | 0x08, 0x00, UInt8(bytes.count)] + bytes
    }

    var blockLimits: [UInt8] {
        var page = [UInt8](repeating: 0, count: 0x3C)
        func put(_ bytes: [UInt8], at offset: Int) { for (index, byte) in bytes.enumerated() { page[offset - 4 + index] = byte } }
        put([UInt8(Self.maximumCompareAndWriteBlocks)], at: 5)
        let granularity = UInt16(max(1, 4096 / device.blockSize))  // file system blocks
        put(SCSIBytes.be16(granularity), at: 6)
        put(SCSIBytes.be32(UInt32(maximumTransferBlocks)), at: 8)
        put(SCSIBytes.be32(UInt32((1 << 20) / device.blockSize)), at: 12)
        put(SCSIBytes.be32(UInt32.max), at: 20)  // MAXIMUM UNMAP LBA COUNT: hole punching is cheap
        put(SCSIBytes.be32(UInt32(Self.maximumUnmapDescriptors)), at: 24)
        put(SCSIBytes.be32(UInt32(granularity)), at: 28)
        put(SCSIBytes.be64(maximumWriteSameBlocks), at: 36)
        return page
    }
}
