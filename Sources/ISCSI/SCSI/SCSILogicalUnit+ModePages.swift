import NIOCore

/// MODE SENSE and MODE SELECT (SPC-4 §6.11–6.14, §7.5) with the caching, control and
/// informational exceptions pages. Only WCE and D_SENSE can change; nothing can be saved. (SWP is
/// not offered: write protection is the storage node's business, not an initiator's.)
extension SCSILogicalUnit {
    enum PageControl: UInt8 { case current = 0, changeable = 1, defaults = 2, saved = 3 }

    static let modePageCodes: [UInt8] = [0x08, 0x0A, 0x1C]

    /// One mode page as MODE SENSE returns it.
    static func modePage(_ code: UInt8, _ mode: ModeParameters, _ control: PageControl) -> [UInt8]? {
        let changeable = control == .changeable
        let values = control == .defaults ? ModeParameters() : mode
        switch code {
        case 0x08:  // caching
            var page = [UInt8](repeating: 0, count: 20)
            page[0] = 0x08
            page[1] = 0x12
            page[2] = changeable ? 0x04 : (values.writeCacheEnabled ? 0x04 : 0x00)
            return page
        case 0x0A:  // control
            var page = [UInt8](repeating: 0, count: 12)
            page[0] = 0x0A
            page[1] = 0x0A
            if changeable {
                page[2] = 0x04
            } else {
                page[2] = 0x02 | (values.descriptorSense ? 0x04 : 0)  // GLTSD: no log parameters to save
                page[3] = 0x10  // unrestricted reordering; QERR 0
                page[8] = 0xFF  // busy timeout: unlimited
                page[9] = 0xFF
            }
            return page
        case 0x1C:  // informational exceptions: none are reported
            var page = [UInt8](repeating: 0, count: 12)
            page[0] = 0x1C
            page[1] = 0x0A
            page[2] = changeable ? 0 : 0x08  // DEXCPT
            return page
        default:
            return nil
        }
    }

    func modeSense(_ cdb: SCSICDB) -> SCSICommandResult {
        let isTen = cdb.opcode == 0x5A
        let disableBlockDescriptors = cdb[1] & 0x08 != 0
        let longLBA = isTen && cdb[1] & 0x10 != 0
        let pageCode = cdb[2] & 0x3F
        let subpage = cdb[3]
        let allocation = isTen ? Int(cdb.be16(7)) : Int(cdb[4])
        guard let control = PageControl(rawValue: cdb[2] >> 6) else { return .check(.invalidFieldInCDB) }
        guard control != .saved else { return .check(.savingParametersNotSupported) }
        // No subpages: only subpage 0, or 0xFF ("and all subpages").
        guard subpage == 0 || subpage == 0xFF else { return .check(.invalidFieldInCDB) }
        let mode = state.withLock { $0.mode }
        var pages: [UInt8] = []
        if pageCode == 0x3F {
            for code in Self.modePageCodes { pages += Self.modePage(code, mode, control) ?? [] }
        } else {
            guard let page = Self.modePage(pageCode, mode, control) else { return .check(.invalidFieldInCDB) }
            pages = page
        }
        var descriptor: [UInt8] = []
        if !disableBlockDescriptors {
            let blocks = control == .changeable ? 0 : device.blockCount
            let length = control == .changeable ? 0 : UInt32(device.blockSize)
            if longLBA {
                descriptor = SCSIBytes.be64(blocks) + [0, 0, 0, 0] + SCSIBytes.be32(length)
            } else {
                descriptor = SCSIBytes.be32(blocks > UInt64(UInt32.max) ? UInt32.max : UInt32(blocks)) + [0] + Array(SCSIBytes.be32(length).suffix(3))
            }
        }
        // Device-specific parameter: DPOFUA because FUA is honoured; never write protected.
        let deviceSpecific: UInt8 = 0x10
        let header: [UInt8]
        if isTen {
            let total = 8 + descriptor.count + pages.count
            header = SCSIBytes.be16(UInt16(total - 2)) + [0, deviceSpecific, longLBA ? 0x01 : 0, 0] + SCSIBytes.be16(UInt16(descriptor.count))
        } else {
            let total = 4 + descriptor.count + pages.count
            header = [UInt8(total - 1), 0, deviceSpecific, UInt8(descriptor.count)]
        }
        return .good(header + descriptor + pages, allocationLength: allocation)
    }

    func modeSelect(_ cdb: SCSICDB, data: ByteBuffer, nexus: SCSINexus) -> SCSICommandResult {
        let isTen = cdb.opcode == 0x55
        let length = isTen ? Int(cdb.be16(7)) : Int(cdb[4])
        func fail(_ sense: SCSISense) -> SCSICommandResult { SCSICommandResult.check(sense).expecting(dataOut: length) }
        // PF: only the standard page format; SP: nothing can be saved.
        guard cdb[1] & 0x10 != 0, cdb[1] & 0x01 == 0 else { return fail(.invalidFieldInCDB) }
        guard data.readableBytes == length else { return fail(Self.invalidFieldInInformationUnit) }
        guard length > 0 else { return SCSICommandResult.good().expecting(dataOut: 0) }
        let headerLength = isTen ? 8 : 4
        guard length >= headerLength else { return fail(.parameterListLengthError) }
        let list = Array(data.readableBytesView)
        let descriptorLength = isTen ? Int(SCSIBytes.read(list, 6, 2)) : Int(list[3])
        let longLBA = isTen && list[4] & 0x01 != 0
        guard descriptorLength == 0 || descriptorLength == (longLBA ? 16 : 8) else { return fail(.invalidFieldInParameterList) }
        guard headerLength + descriptorLength <= length else { return fail(.parameterListLengthError) }
        if descriptorLength > 0 {
            // A block descriptor may restate the geometry but not change it.
            let base = headerLength
            let blockLength = longLBA ? SCSIBytes.read(list, base + 12, 4) : SCSIBytes.read(list, base + 5, 3)
            let blocks = longLBA ? SCSIBytes.read(list, base, 8) : SCSIBytes.read(list, base, 4)
            guard blockLength == UInt64(device.blockSize), blocks == 0 || blocks == min(device.blockCount, longLBA ? UInt64.max : UInt64(UInt32.max)) else {
                return fail(.invalidFieldInParameterList)
            }
        }
        let current = state.withLock { $0.mode }
        var updated = current
        var offset = headerLength + descriptorLength
        while offset < length {
            guard offset + 2 <= length else { return fail(.parameterListLengthError) }
            let code = list[offset] & 0x3F
            let pageLength = Int(list[offset + 1]) + 2
            guard list[offset] & 0x40 == 0,  // SPF: no subpages
                let present = Self.modePage(code, current, .current), let changeable = Self.modePage(code, current, .changeable),
                pageLength == present.count
            else { return fail(.invalidFieldInParameterList) }
            guard offset + pageLength <= length else { return fail(.parameterListLengthError) }
            let page = Array(list[offset..<(offset + pageLength)])
            for index in 2..<pageLength where (page[index] ^ present[index]) & ~changeable[index] != 0 {
                return fail(.invalidFieldInParameterList)
            }
            switch code {
            case 0x08: updated.writeCacheEnabled = page[2] & 0x04 != 0
            case 0x0A: updated.descriptorSense = page[2] & 0x04 != 0
            default: break
            }
            offset += pageLength
        }
        if updated != current {
            // Writes acknowledged under the write cache become durable before it is switched off.
            if !updated.writeCacheEnabled { try? device.synchronize() }
            state.withLock { state in
                state.mode = updated
                Self.establish(.modeParametersChanged, forAll: state.knownNexuses, except: nexus, in: &state)
            }
        }
        return SCSICommandResult.good().expecting(dataOut: length)
    }
}
