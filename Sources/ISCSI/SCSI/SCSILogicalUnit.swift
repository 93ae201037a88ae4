import NIOCore

/// What a command produced: status, data for the initiator, sense on CHECK CONDITION.
public struct SCSICommandResult: Sendable {
    public var status: UInt8
    public var data: ByteBuffer
    public var sense: SCSISense?
    /// For commands that take data: how many bytes the CDB asked for (residuals are counted
    /// against it); nil when it matched the transfer.
    public var dataOutLength: Int?

    public static func good(_ data: ByteBuffer = ByteBuffer()) -> SCSICommandResult {
        SCSICommandResult(status: SCSIStatus.good, data: data, sense: nil)
    }

    public static func check(_ sense: SCSISense) -> SCSICommandResult {
        SCSICommandResult(status: SCSIStatus.checkCondition, data: ByteBuffer(), sense: sense)
    }
}

/// A direct-access logical unit (SBC-3) over a ``SCSIBlockDevice``. Unknown or malformed CDBs get
/// CHECK CONDITION with ILLEGAL REQUEST sense, never a dropped connection. `execute` blocks (it
/// does the I/O): transports call it from a thread pool.
public final class SCSILogicalUnit: Sendable {
    public let device: any SCSIBlockDevice
    /// Unit serial number (VPD 0x80).
    public let serial: String
    /// 64-bit NAA identifier (VPD 0x83), unique per volume.
    public let naa: UInt64

    public init(device: any SCSIBlockDevice, serial: String, naa: UInt64) {
        self.device = device
        self.serial = serial
        self.naa = (naa & 0x0FFF_FFFF_FFFF_FFFF) | 0x6000_0000_0000_0000  // NAA type 6 in the top nibble
    }

    /// LOGICAL UNIT RESET (and target resets): the transport has aborted the tasks.
    public func reset(initiatedBy nexus: SCSINexus) {}

    /// The device grew: initiators are told with a unit attention.
    public func capacityChanged() {}

    public func execute(_ request: SCSIRequest) -> SCSICommandResult {
        guard !request.cdb.isEmpty else { return .check(.invalidOperationCode) }
        do {
            return try dispatch(cdb: request.cdb, dataOut: request.dataOut)
        } catch let error as SCSIDeviceError {
            return .check(error.operation.hasPrefix("read") ? .mediumError : .writeError)
        } catch {
            return .check(.mediumError)
        }
    }

    func dispatch(cdb: [UInt8], dataOut: ByteBuffer) throws -> SCSICommandResult {
        switch cdb[0] {
        case 0x00: return .good()  // TEST UNIT READY
        case 0x03: return .good(ByteBuffer(bytes: Array(SCSISense(key: 0, code: 0).bytes.prefix(Int(cdb[4])))))  // REQUEST SENSE
        case 0x12: return inquiry(cdb)
        case 0x25: return readCapacity10()
        case 0x9E where cdb[1] & 0x1F == 0x10: return readCapacity16(cdb)
        case 0xA0: return reportLUNs(cdb)
        case 0x1A: return modeSense6(cdb)
        case 0x08: return try read(lba: UInt64(cdb[1] & 0x1F) << 16 | UInt64(cdb[2]) << 8 | UInt64(cdb[3]), blocks: cdb[4] == 0 ? 256 : Int(cdb[4]))
        case 0x28: return try read(lba: UInt64(Self.be32(cdb, 2)), blocks: Int(Self.be16(cdb, 7)))
        case 0x88: return try read(lba: Self.be64(cdb, 2), blocks: Int(Self.be32(cdb, 10)))
        case 0x0A:
            return try write(lba: UInt64(cdb[1] & 0x1F) << 16 | UInt64(cdb[2]) << 8 | UInt64(cdb[3]), blocks: cdb[4] == 0 ? 256 : Int(cdb[4]), fua: false, data: dataOut)
        case 0x2A: return try write(lba: UInt64(Self.be32(cdb, 2)), blocks: Int(Self.be16(cdb, 7)), fua: cdb[1] & 0x08 != 0, data: dataOut)
        case 0x8A: return try write(lba: Self.be64(cdb, 2), blocks: Int(Self.be32(cdb, 10)), fua: cdb[1] & 0x08 != 0, data: dataOut)
        case 0x35, 0x91:  // SYNCHRONIZE CACHE 10/16
            try device.synchronize()
            return .good()
        default:
            return .check(.invalidOperationCode)
        }
    }

    // MARK: Reads and writes

    func inRange(_ lba: UInt64, _ blocks: Int) -> Bool {
        blocks >= 0 && lba <= device.blockCount && UInt64(blocks) <= device.blockCount - lba
    }

    func read(lba: UInt64, blocks: Int) throws -> SCSICommandResult {
        guard inRange(lba, blocks) else { return .check(.lbaOutOfRange) }
        guard blocks > 0 else { return .good() }
        return .good(try device.read(atBlock: lba, count: blocks))
    }

    func write(lba: UInt64, blocks: Int, fua: Bool, data: ByteBuffer) throws -> SCSICommandResult {
        guard inRange(lba, blocks) else { return .check(.lbaOutOfRange) }
        guard blocks > 0 else { return .good() }
        guard data.readableBytes == blocks * device.blockSize else { return .check(.invalidFieldInCDB) }
        try device.write(data, atBlock: lba, forceUnitAccess: fua)
        return .good()
    }

    // MARK: Inquiry and capacity

    func inquiry(_ cdb: [UInt8]) -> SCSICommandResult {
        let allocation = Int(Self.be16(cdb, 3))
        var page: [UInt8]
        if cdb[1] & 0x01 == 0 {
            guard cdb[2] == 0 else { return .check(.invalidFieldInCDB) }
            page = [0x00, 0x00, 0x06, 0x02, 0, 0x00, 0x00, 0x02]  // disk, SPC-4, CmdQue
            page += Self.ascii("LUNAR", 8) + Self.ascii("LUNAR VOLUME", 16) + Self.ascii("0001", 4)
            page[4] = UInt8(page.count - 5)
        } else {
            switch cdb[2] {
            case 0x00: page = [0x00, 0x00, 0x00, 3, 0x00, 0x80, 0x83]
            case 0x80:
                let serialBytes = Array(serial.utf8.prefix(252))
                page = [0x00, 0x80, 0x00, UInt8(serialBytes.count)] + serialBytes
            case 0x83:
                var naaBytes: [UInt8] = []
                for shift in stride(from: 56, through: 0, by: -8) { naaBytes.append(UInt8(truncatingIfNeeded: naa >> UInt64(shift))) }
                let vendor = Self.ascii("LUNAR", 8) + Array(serial.utf8.prefix(64))
                var designators: [UInt8] = [0x01, 0x03, 0x00, 0x08] + naaBytes  // binary, NAA, logical unit
                designators += [0x02, 0x01, 0x00, UInt8(vendor.count)] + vendor  // ASCII, T10 vendor id
                page = [0x00, 0x83, UInt8(designators.count >> 8), UInt8(designators.count & 0xFF)] + designators
            default:
                return .check(.invalidFieldInCDB)
            }
        }
        return .good(ByteBuffer(bytes: page.prefix(allocation)))
    }

    func readCapacity10() -> SCSICommandResult {
        let last = device.blockCount == 0 ? 0 : device.blockCount - 1
        var buffer = ByteBuffer()
        buffer.writeInteger(last > UInt64(UInt32.max) ? UInt32.max : UInt32(last))
        buffer.writeInteger(UInt32(device.blockSize))
        return .good(buffer)
    }

    func readCapacity16(_ cdb: [UInt8]) -> SCSICommandResult {
        var buffer = ByteBuffer()
        buffer.writeInteger(device.blockCount == 0 ? 0 : device.blockCount - 1)
        buffer.writeInteger(UInt32(device.blockSize))
        buffer.writeBytes([UInt8](repeating: 0, count: 20))
        return .good(buffer.getSlice(at: 0, length: min(32, Int(Self.be32(cdb, 10))))!)
    }

    func reportLUNs(_ cdb: [UInt8]) -> SCSICommandResult {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(8))
        buffer.writeInteger(UInt32(0))
        buffer.writeInteger(UInt64(0))  // LUN 0
        return .good(buffer.getSlice(at: 0, length: min(16, Int(Self.be32(cdb, 6))))!)
    }

    func modeSense6(_ cdb: [UInt8]) -> SCSICommandResult {
        let pageCode = cdb[2] & 0x3F
        var pages: [UInt8] = []
        if pageCode == 0x08 || pageCode == 0x3F {
            var caching = [UInt8](repeating: 0, count: 20)
            caching[0] = 0x08
            caching[1] = 0x12
            caching[2] = 0x04  // WCE: acknowledged writes may sit in the page cache until SYNCHRONIZE CACHE or FUA
            pages += caching
        }
        if pageCode == 0x0A || pageCode == 0x3F {
            var control = [UInt8](repeating: 0, count: 12)
            control[0] = 0x0A
            control[1] = 0x0A
            pages += control
        }
        guard !pages.isEmpty || pageCode == 0x00 else { return .check(.invalidFieldInCDB) }
        let header: [UInt8] = [UInt8(3 + pages.count), 0x00, 0x10, 0x00]  // DPOFUA set: FUA honoured
        return .good(ByteBuffer(bytes: (header + pages).prefix(Int(cdb[4]))))
    }

    // MARK: Helpers

    static func ascii(_ text: String, _ width: Int) -> [UInt8] {
        let bytes = Array(text.utf8.prefix(width))
        return bytes + [UInt8](repeating: 0x20, count: width - bytes.count)
    }

    static func be16(_ bytes: [UInt8], _ offset: Int) -> UInt16 { UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1]) }

    static func be32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }

    static func be64(_ bytes: [UInt8], _ offset: Int) -> UInt64 { UInt64(be32(bytes, offset)) << 32 | UInt64(be32(bytes, offset + 4)) }
}
