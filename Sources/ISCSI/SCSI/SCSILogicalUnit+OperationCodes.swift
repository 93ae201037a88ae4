import NIOCore

/// The commands this logical unit implements, and REPORT SUPPORTED OPERATION CODES (SPC-4 §6.35).
extension SCSILogicalUnit {
    struct SupportedCommand {
        var opcode: UInt8
        var serviceAction: UInt16?
        /// CDB USAGE DATA: which bits of each CDB byte the device server looks at.
        var usage: [UInt8]
    }

    static let supportedCommands: [SupportedCommand] = {
        func command(_ usage: [UInt8]) -> SupportedCommand { SupportedCommand(opcode: usage[0], serviceAction: nil, usage: usage) }
        func action(_ usage: [UInt8]) -> SupportedCommand { SupportedCommand(opcode: usage[0], serviceAction: UInt16(usage[1]), usage: usage) }
        let lba4: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF]
        let lba8 = lba4 + lba4
        var commands: [SupportedCommand] = [
            command([0x00, 0x00, 0x00, 0x00, 0x00, 0x04]),  // TEST UNIT READY
            command([0x03, 0x01, 0x00, 0x00, 0xFF, 0x04]),  // REQUEST SENSE
            command([0x08, 0x1F, 0xFF, 0xFF, 0xFF, 0x04]),  // READ(6)
            command([0x0A, 0x1F, 0xFF, 0xFF, 0xFF, 0x04]),  // WRITE(6)
            command([0x12, 0x01, 0xFF, 0xFF, 0xFF, 0x04]),  // INQUIRY
            command([0x15, 0x11, 0x00, 0x00, 0xFF, 0x04]),  // MODE SELECT(6)
            command([0x16, 0x00, 0x00, 0x00, 0x00, 0x04]),  // RESERVE(6)
            command([0x17, 0x00, 0x00, 0x00, 0x00, 0x04]),  // RELEASE(6)
            command([0x1A, 0x08, 0xFF, 0xFF, 0xFF, 0x04]),  // MODE SENSE(6)
            command([0x1B, 0x01, 0x00, 0x0F, 0xF7, 0x04]),  // START STOP UNIT
            command([0x1D, 0xF7, 0x00, 0xFF, 0xFF, 0x04]),  // SEND DIAGNOSTIC
            command([0x1E, 0x00, 0x00, 0x00, 0x03, 0x04]),  // PREVENT ALLOW MEDIUM REMOVAL
            command([0x25, 0x00] + lba4 + [0x00, 0x00, 0x01, 0x04]),  // READ CAPACITY(10)
            command([0x28, 0xF8] + lba4 + [0x00, 0xFF, 0xFF, 0x04]),  // READ(10)
            command([0x2A, 0xF8] + lba4 + [0x00, 0xFF, 0xFF, 0x04]),  // WRITE(10)
            command([0x2E, 0xF6] + lba4 + [0x00, 0xFF, 0xFF, 0x04]),  // WRITE AND VERIFY(10)
            command([0x2F, 0xF6] + lba4 + [0x00, 0xFF, 0xFF, 0x04]),  // VERIFY(10)
            command([0x34, 0x02] + lba4 + [0x00, 0xFF, 0xFF, 0x04]),  // PRE-FETCH(10)
            command([0x35, 0x02] + lba4 + [0x00, 0xFF, 0xFF, 0x04]),  // SYNCHRONIZE CACHE(10)
            command([0x37, 0x00, 0x1F, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x04]),  // READ DEFECT DATA(10)
            command([0x41, 0xF8] + lba4 + [0x00, 0xFF, 0xFF, 0x04]),  // WRITE SAME(10)
            command([0x42, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x04]),  // UNMAP
            command([0x55, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x04]),  // MODE SELECT(10)
            command([0x5A, 0x18, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x04]),  // MODE SENSE(10)
            command([0x88, 0xF8] + lba8 + lba4 + [0x00, 0x04]),  // READ(16)
            command([0x89, 0xF8] + lba8 + [0x00, 0x00, 0x00, 0xFF, 0x00, 0x04]),  // COMPARE AND WRITE
            command([0x8A, 0xF8] + lba8 + lba4 + [0x00, 0x04]),  // WRITE(16)
            command([0x8B, 0xF8] + lba8 + lba4 + [0x00, 0x04]),  // ORWRITE(16)
            command([0x8E, 0xF6] + lba8 + lba4 + [0x00, 0x04]),  // WRITE AND VERIFY(16)
            command([0x8F, 0xF6] + lba8 + lba4 + [0x00, 0x04]),  // VERIFY(16)
            command([0x90, 0x02] + lba8 + lba4 + [0x00, 0x04]),  // PRE-FETCH(16)
            command([0x91, 0x02] + lba8 + lba4 + [0x00, 0x04]),  // SYNCHRONIZE CACHE(16)
            command([0x93, 0xF9] + lba8 + lba4 + [0x00, 0x04]),  // WRITE SAME(16)
            action([0x9E, 0x10] + [UInt8](repeating: 0, count: 8) + lba4 + [0x00, 0x04]),  // READ CAPACITY(16)
            action([0x9E, 0x12] + lba8 + lba4 + [0x00, 0x04]),  // GET LBA STATUS
            command([0xA0, 0x00, 0xFF, 0x00, 0x00, 0x00] + lba4 + [0x00, 0x04]),  // REPORT LUNS
            action([0xA3, 0x0C, 0x87, 0xFF, 0xFF, 0xFF] + lba4 + [0x00, 0x04]),  // REPORT SUPPORTED OPERATION CODES
            command([0xA8, 0xF8] + lba4 + lba4 + [0x00, 0x04]),  // READ(12)
            command([0xAA, 0xF8] + lba4 + lba4 + [0x00, 0x04]),  // WRITE(12)
            command([0xAE, 0xF6] + lba4 + lba4 + [0x00, 0x04]),  // WRITE AND VERIFY(12)
            command([0xAF, 0xF6] + lba4 + lba4 + [0x00, 0x04]),  // VERIFY(12)
            command([0xB7, 0x1F, 0x00, 0x00, 0x00, 0x00] + lba4 + [0x00, 0x04]),  // READ DEFECT DATA(12)
        ]
        for serviceAction: UInt8 in 0...3 {  // PERSISTENT RESERVE IN
            commands.append(action([0x5E, serviceAction, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0x04]))
        }
        for serviceAction: UInt8 in 0...6 {  // PERSISTENT RESERVE OUT
            commands.append(action([0x5F, serviceAction, 0xFF, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x04]))
        }
        return commands.sorted { ($0.opcode, $0.serviceAction ?? 0) < ($1.opcode, $1.serviceAction ?? 0) }
    }()

    static let supportedOpcodes: Set<UInt8> = Set(supportedCommands.map(\.opcode))
    static let serviceActionOpcodes: Set<UInt8> = Set(supportedCommands.filter { $0.serviceAction != nil }.map(\.opcode))

    /// Whether the operation code exists here (a bad service action is an invalid field instead).
    static func isSupported(_ cdb: SCSICDB) -> Bool { supportedOpcodes.contains(cdb.opcode) }

    /// The command timeouts descriptor: nominal 1 s, recommended 30 s.
    static let timeoutsDescriptor: [UInt8] = [0x00, 0x0A, 0x00, 0x00] + SCSIBytes.be32(1) + SCSIBytes.be32(30)

    func reportSupportedOperationCodes(_ cdb: SCSICDB) -> SCSICommandResult {
        guard cdb.serviceAction == 0x0C else { return .check(.invalidFieldInCDB) }
        let timeouts = cdb[2] & 0x80 != 0
        let options = cdb[2] & 0x07
        let opcode = cdb[3]
        let serviceAction = cdb.be16(4)
        let allocation = Int(cdb.be32(6))
        switch options {
        case 0:
            var descriptors: [UInt8] = []
            for command in Self.supportedCommands {
                let flags: UInt8 = (timeouts ? 0x02 : 0) | (command.serviceAction != nil ? 0x01 : 0)
                descriptors += [command.opcode, 0] + SCSIBytes.be16(command.serviceAction ?? 0) + [0, flags] + SCSIBytes.be16(UInt16(command.usage.count))
                if timeouts { descriptors += Self.timeoutsDescriptor }
            }
            return .good(SCSIBytes.be32(UInt32(descriptors.count)) + descriptors, allocationLength: allocation)
        case 1, 2, 3:
            let hasServiceActions = Self.serviceActionOpcodes.contains(opcode)
            // One command by opcode alone must have no service actions; by opcode and service action, must.
            if options == 1 && hasServiceActions { return .check(.invalidField(inCDBByte: 2)) }
            if options == 2 && !hasServiceActions && Self.supportedOpcodes.contains(opcode) { return .check(.invalidField(inCDBByte: 2)) }
            let match = Self.supportedCommands.first {
                $0.opcode == opcode && (hasServiceActions ? $0.serviceAction == serviceAction : options != 3 || serviceAction == 0)
            }
            guard let match else { return .good([0, 0x01, 0, 0], allocationLength: allocation) }  // not supported
            var bytes: [UInt8] = [0, (timeouts ? 0x80 : 0) | 0x03] + SCSIBytes.be16(UInt16(match.usage.count)) + match.usage
            if timeouts { bytes += Self.timeoutsDescriptor }
            return .good(bytes, allocationLength: allocation)
        default:
            return .check(.invalidFieldInCDB)
        }
    }
}
