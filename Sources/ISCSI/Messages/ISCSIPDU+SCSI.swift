import NIOCore

/// A SCSI Command (RFC 7143 §11.3).
public struct ISCSISCSICommand: Hashable, Sendable {
    public var isImmediate: Bool
    public var isFinal: Bool
    public var reads: Bool
    public var writes: Bool
    /// SAM task attribute (ATTR field): 0 untagged, 1 simple, 2 ordered, 3 head of queue, 4 ACA.
    public var taskAttribute: UInt8 = 1
    public var logicalUnitNumber: UInt64
    public var initiatorTaskTag: UInt32
    public var expectedDataTransferLength: UInt32
    public var commandSequenceNumber: UInt32
    public var expectedStatusSequenceNumber: UInt32
    /// The 16-byte CDB field (shorter CDBs are zero-padded).
    public var cdb: [UInt8]
    /// Immediate data carried by the command PDU.
    public var immediateData: ByteBuffer

    public init(
        reads: Bool, writes: Bool, logicalUnitNumber: UInt64 = 0, initiatorTaskTag: UInt32, expectedDataTransferLength: UInt32,
        commandSequenceNumber: UInt32, expectedStatusSequenceNumber: UInt32, cdb: [UInt8], immediateData: ByteBuffer = ByteBuffer()
    ) {
        precondition(cdb.count <= 16)
        self.isImmediate = false
        self.isFinal = true
        self.reads = reads
        self.writes = writes
        self.logicalUnitNumber = logicalUnitNumber
        self.initiatorTaskTag = initiatorTaskTag
        self.expectedDataTransferLength = expectedDataTransferLength
        self.commandSequenceNumber = commandSequenceNumber
        self.expectedStatusSequenceNumber = expectedStatusSequenceNumber
        self.cdb = cdb + [UInt8](repeating: 0, count: 16 - cdb.count)
        self.immediateData = immediateData
    }

    public init(_ pdu: ISCSIPDU) {
        precondition(pdu.opcode == .scsiCommand)
        let header = pdu.header
        self.isImmediate = header.isImmediate
        self.isFinal = header.isFinal
        self.reads = header.flags & 0x40 != 0
        self.writes = header.flags & 0x20 != 0
        self.taskAttribute = header.flags & 0x07
        self.logicalUnitNumber = header.logicalUnitNumber
        self.initiatorTaskTag = header.initiatorTaskTag
        self.expectedDataTransferLength = header.uint32(at: 20)
        self.commandSequenceNumber = header.uint32(at: 24)
        self.expectedStatusSequenceNumber = header.uint32(at: 28)
        self.cdb = Array(header.bytes[32..<48])
        self.immediateData = pdu.data
    }

    public var pdu: ISCSIPDU {
        var header = ISCSIBasicHeaderSegment(opcode: .scsiCommand, immediate: isImmediate)
        header.flags = (isFinal ? 0x80 : 0) | (reads ? 0x40 : 0) | (writes ? 0x20 : 0) | (taskAttribute & 0x07)
        header.logicalUnitNumber = logicalUnitNumber
        header.initiatorTaskTag = initiatorTaskTag
        header.setUInt32(expectedDataTransferLength, at: 20)
        header.setUInt32(commandSequenceNumber, at: 24)
        header.setUInt32(expectedStatusSequenceNumber, at: 28)
        for (index, byte) in cdb.enumerated() { header.setUInt8(byte, at: 32 + index) }
        return ISCSIPDU(header: header, data: immediateData)
    }
}

/// Residual reporting shared by SCSI Response and Data-In.
public enum ISCSIResidual: Hashable, Sendable {
    case none
    /// The initiator expected more than was transferred.
    case underflow(UInt32)
    /// The command had more than the initiator expected.
    case overflow(UInt32)

    var flags: UInt8 {
        switch self {
        case .none: 0
        case .underflow: 0x02
        case .overflow: 0x04
        }
    }

    var count: UInt32 {
        switch self {
        case .none: 0
        case .underflow(let count), .overflow(let count): count
        }
    }

    init(flags: UInt8, count: UInt32) {
        if flags & 0x02 != 0 { self = .underflow(count) } else if flags & 0x04 != 0 { self = .overflow(count) } else { self = .none }
    }

    /// The residual of a transfer of `actual` bytes against `expected`.
    public init(expected: Int, actual: Int) {
        if actual < expected { self = .underflow(UInt32(expected - actual)) } else if actual > expected { self = .overflow(UInt32(actual - expected)) } else { self = .none }
    }
}

/// The sequence numbers every target response carries.
public struct ISCSISequenceNumbers: Hashable, Sendable {
    public var statusSequenceNumber: UInt32
    public var expectedCommandSequenceNumber: UInt32
    public var maximumCommandSequenceNumber: UInt32

    public init(statusSequenceNumber: UInt32, expectedCommandSequenceNumber: UInt32, maximumCommandSequenceNumber: UInt32) {
        self.statusSequenceNumber = statusSequenceNumber
        self.expectedCommandSequenceNumber = expectedCommandSequenceNumber
        self.maximumCommandSequenceNumber = maximumCommandSequenceNumber
    }

    func write(to header: inout ISCSIBasicHeaderSegment) {
        header.setUInt32(statusSequenceNumber, at: 24)
        header.setUInt32(expectedCommandSequenceNumber, at: 28)
        header.setUInt32(maximumCommandSequenceNumber, at: 32)
    }

    init(_ header: ISCSIBasicHeaderSegment) {
        self.init(statusSequenceNumber: header.uint32(at: 24), expectedCommandSequenceNumber: header.uint32(at: 28), maximumCommandSequenceNumber: header.uint32(at: 32))
    }
}

/// A SCSI Response (RFC 7143 §11.4): status, and sense data when the status is CHECK CONDITION.
public struct ISCSISCSIResponse: Hashable, Sendable {
    public var initiatorTaskTag: UInt32
    public var status: UInt8
    public var residual: ISCSIResidual
    public var sequence: ISCSISequenceNumbers
    public var expectedDataSequenceNumber: UInt32
    public var senseData: [UInt8]

    public init(initiatorTaskTag: UInt32, status: UInt8, residual: ISCSIResidual, sequence: ISCSISequenceNumbers, expectedDataSequenceNumber: UInt32, senseData: [UInt8]) {
        self.initiatorTaskTag = initiatorTaskTag
        self.status = status
        self.residual = residual
        self.sequence = sequence
        self.expectedDataSequenceNumber = expectedDataSequenceNumber
        self.senseData = senseData
    }

    public init(_ pdu: ISCSIPDU) {
        precondition(pdu.opcode == .scsiResponse)
        let header = pdu.header
        self.initiatorTaskTag = header.initiatorTaskTag
        self.status = header.uint8(at: 3)
        self.residual = ISCSIResidual(flags: header.flags, count: header.uint32(at: 44))
        self.sequence = ISCSISequenceNumbers(header)
        self.expectedDataSequenceNumber = header.uint32(at: 36)
        var data = pdu.data
        let length = data.readInteger(as: UInt16.self).map(Int.init) ?? 0
        self.senseData = data.readBytes(length: min(length, data.readableBytes)) ?? []
    }

    public var pdu: ISCSIPDU {
        var header = ISCSIBasicHeaderSegment(opcode: .scsiResponse)
        header.flags = 0x80 | residual.flags
        header.setUInt8(0, at: 2)  // command completed at target
        header.setUInt8(status, at: 3)
        header.initiatorTaskTag = initiatorTaskTag
        sequence.write(to: &header)
        header.setUInt32(expectedDataSequenceNumber, at: 36)
        header.setUInt32(residual.count, at: 44)
        var data = ByteBuffer()
        if !senseData.isEmpty {
            data.writeInteger(UInt16(senseData.count))
            data.writeBytes(senseData)
        }
        return ISCSIPDU(header: header, data: data)
    }
}

/// Data-In (RFC 7143 §11.7): read data, optionally with the command's status in the last PDU.
public struct ISCSIDataIn: Hashable, Sendable {
    public var isFinal: Bool
    public var initiatorTaskTag: UInt32
    public var logicalUnitNumber: UInt64
    /// The status, when this PDU ends the command (the S bit).
    public var status: UInt8?
    public var residual: ISCSIResidual
    public var sequence: ISCSISequenceNumbers
    public var dataSequenceNumber: UInt32
    public var bufferOffset: UInt32
    public var data: ByteBuffer

    public init(
        isFinal: Bool, initiatorTaskTag: UInt32, logicalUnitNumber: UInt64 = 0, status: UInt8?, residual: ISCSIResidual, sequence: ISCSISequenceNumbers,
        dataSequenceNumber: UInt32, bufferOffset: UInt32, data: ByteBuffer
    ) {
        self.isFinal = isFinal
        self.initiatorTaskTag = initiatorTaskTag
        self.logicalUnitNumber = logicalUnitNumber
        self.status = status
        self.residual = residual
        self.sequence = sequence
        self.dataSequenceNumber = dataSequenceNumber
        self.bufferOffset = bufferOffset
        self.data = data
    }

    public init(_ pdu: ISCSIPDU) {
        precondition(pdu.opcode == .dataIn)
        let header = pdu.header
        self.isFinal = header.isFinal
        self.initiatorTaskTag = header.initiatorTaskTag
        self.logicalUnitNumber = header.logicalUnitNumber
        self.status = header.flags & 0x01 != 0 ? header.uint8(at: 3) : nil
        self.residual = ISCSIResidual(flags: header.flags, count: header.uint32(at: 44))
        self.sequence = ISCSISequenceNumbers(header)
        self.dataSequenceNumber = header.uint32(at: 36)
        self.bufferOffset = header.uint32(at: 40)
        self.data = pdu.data
    }

    public var pdu: ISCSIPDU {
        var header = ISCSIBasicHeaderSegment(opcode: .dataIn)
        header.flags = (isFinal ? 0x80 : 0) | (status != nil ? 0x01 | residual.flags : 0)
        if let status { header.setUInt8(status, at: 3) }
        header.logicalUnitNumber = logicalUnitNumber
        header.initiatorTaskTag = initiatorTaskTag
        header.setUInt32(0xFFFF_FFFF, at: 20)
        var numbers = sequence
        if status == nil { numbers.statusSequenceNumber = 0 }  // StatSN is reserved without status
        numbers.write(to: &header)
        header.setUInt32(dataSequenceNumber, at: 36)
        header.setUInt32(bufferOffset, at: 40)
        header.setUInt32(status != nil ? residual.count : 0, at: 44)
        return ISCSIPDU(header: header, data: data)
    }
}

/// Data-Out (RFC 7143 §11.8): write data, unsolicited or answering an R2T.
public struct ISCSIDataOut: Hashable, Sendable {
    public var isFinal: Bool
    public var initiatorTaskTag: UInt32
    public var targetTransferTag: UInt32
    public var expectedStatusSequenceNumber: UInt32
    public var dataSequenceNumber: UInt32
    public var bufferOffset: UInt32
    public var data: ByteBuffer

    public init(isFinal: Bool, initiatorTaskTag: UInt32, targetTransferTag: UInt32, expectedStatusSequenceNumber: UInt32, dataSequenceNumber: UInt32, bufferOffset: UInt32, data: ByteBuffer) {
        self.isFinal = isFinal
        self.initiatorTaskTag = initiatorTaskTag
        self.targetTransferTag = targetTransferTag
        self.expectedStatusSequenceNumber = expectedStatusSequenceNumber
        self.dataSequenceNumber = dataSequenceNumber
        self.bufferOffset = bufferOffset
        self.data = data
    }

    public init(_ pdu: ISCSIPDU) {
        precondition(pdu.opcode == .dataOut)
        let header = pdu.header
        self.isFinal = header.isFinal
        self.initiatorTaskTag = header.initiatorTaskTag
        self.targetTransferTag = header.uint32(at: 20)
        self.expectedStatusSequenceNumber = header.uint32(at: 28)
        self.dataSequenceNumber = header.uint32(at: 36)
        self.bufferOffset = header.uint32(at: 40)
        self.data = pdu.data
    }

    public var pdu: ISCSIPDU {
        var header = ISCSIBasicHeaderSegment(opcode: .dataOut)
        header.isFinal = isFinal
        header.initiatorTaskTag = initiatorTaskTag
        header.setUInt32(targetTransferTag, at: 20)
        header.setUInt32(expectedStatusSequenceNumber, at: 28)
        header.setUInt32(dataSequenceNumber, at: 36)
        header.setUInt32(bufferOffset, at: 40)
        return ISCSIPDU(header: header, data: data)
    }
}

/// Ready To Transfer (RFC 7143 §11.9): asks for a range of a write's data.
public struct ISCSIReadyToTransfer: Hashable, Sendable {
    public var initiatorTaskTag: UInt32
    public var targetTransferTag: UInt32
    public var sequence: ISCSISequenceNumbers
    public var readyToTransferSequenceNumber: UInt32
    public var bufferOffset: UInt32
    public var desiredDataTransferLength: UInt32

    public init(initiatorTaskTag: UInt32, targetTransferTag: UInt32, sequence: ISCSISequenceNumbers, readyToTransferSequenceNumber: UInt32, bufferOffset: UInt32, desiredDataTransferLength: UInt32) {
        self.initiatorTaskTag = initiatorTaskTag
        self.targetTransferTag = targetTransferTag
        self.sequence = sequence
        self.readyToTransferSequenceNumber = readyToTransferSequenceNumber
        self.bufferOffset = bufferOffset
        self.desiredDataTransferLength = desiredDataTransferLength
    }

    public init(_ pdu: ISCSIPDU) {
        precondition(pdu.opcode == .readyToTransfer)
        let header = pdu.header
        self.initiatorTaskTag = header.initiatorTaskTag
        self.targetTransferTag = header.uint32(at: 20)
        self.sequence = ISCSISequenceNumbers(header)
        self.readyToTransferSequenceNumber = header.uint32(at: 36)
        self.bufferOffset = header.uint32(at: 40)
        self.desiredDataTransferLength = header.uint32(at: 44)
    }

    public var pdu: ISCSIPDU {
        var header = ISCSIBasicHeaderSegment(opcode: .readyToTransfer)
        header.isFinal = true
        header.initiatorTaskTag = initiatorTaskTag
        header.setUInt32(targetTransferTag, at: 20)
        sequence.write(to: &header)
        header.setUInt32(readyToTransferSequenceNumber, at: 36)
        header.setUInt32(bufferOffset, at: 40)
        header.setUInt32(desiredDataTransferLength, at: 44)
        return ISCSIPDU(header: header)
    }
}
