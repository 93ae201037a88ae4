import NIOCore

/// A Text Request (RFC 7143 §11.10), e.g. `SendTargets=All` in a discovery session.
public struct ISCSITextRequest: Hashable, Sendable {
    public var isFinal: Bool
    public var continues: Bool
    public var initiatorTaskTag: UInt32
    public var targetTransferTag: UInt32
    public var commandSequenceNumber: UInt32
    public var expectedStatusSequenceNumber: UInt32
    public var parameters: ISCSITextParameters

    public init(initiatorTaskTag: UInt32, commandSequenceNumber: UInt32, expectedStatusSequenceNumber: UInt32, parameters: ISCSITextParameters) {
        self.isFinal = true
        self.continues = false
        self.initiatorTaskTag = initiatorTaskTag
        self.targetTransferTag = 0xFFFF_FFFF
        self.commandSequenceNumber = commandSequenceNumber
        self.expectedStatusSequenceNumber = expectedStatusSequenceNumber
        self.parameters = parameters
    }

    public init(_ pdu: ISCSIPDU) throws {
        precondition(pdu.opcode == .textRequest)
        self.isFinal = pdu.header.isFinal
        self.continues = pdu.header.flags & 0x40 != 0
        self.initiatorTaskTag = pdu.header.initiatorTaskTag
        self.targetTransferTag = pdu.header.uint32(at: 20)
        self.commandSequenceNumber = pdu.header.uint32(at: 24)
        self.expectedStatusSequenceNumber = pdu.header.uint32(at: 28)
        self.parameters = try ISCSITextParameters.parse(pdu.data)
    }

    public var pdu: ISCSIPDU {
        var header = ISCSIBasicHeaderSegment(opcode: .textRequest, immediate: true)
        header.flags = (isFinal ? 0x80 : 0) | (continues ? 0x40 : 0)
        header.initiatorTaskTag = initiatorTaskTag
        header.setUInt32(targetTransferTag, at: 20)
        header.setUInt32(commandSequenceNumber, at: 24)
        header.setUInt32(expectedStatusSequenceNumber, at: 28)
        return ISCSIPDU(header: header, data: parameters.encoded())
    }
}

/// A Text Response (RFC 7143 §11.11).
public struct ISCSITextResponse: Hashable, Sendable {
    public var initiatorTaskTag: UInt32
    public var statusSequenceNumber: UInt32
    public var expectedCommandSequenceNumber: UInt32
    public var maximumCommandSequenceNumber: UInt32
    public var parameters: ISCSITextParameters

    public init(
        initiatorTaskTag: UInt32, statusSequenceNumber: UInt32, expectedCommandSequenceNumber: UInt32, maximumCommandSequenceNumber: UInt32,
        parameters: ISCSITextParameters
    ) {
        self.initiatorTaskTag = initiatorTaskTag
        self.statusSequenceNumber = statusSequenceNumber
        self.expectedCommandSequenceNumber = expectedCommandSequenceNumber
        self.maximumCommandSequenceNumber = maximumCommandSequenceNumber
        self.parameters = parameters
    }

    public init(_ pdu: ISCSIPDU) throws {
        precondition(pdu.opcode == .textResponse)
        self.initiatorTaskTag = pdu.header.initiatorTaskTag
        self.statusSequenceNumber = pdu.header.uint32(at: 24)
        self.expectedCommandSequenceNumber = pdu.header.uint32(at: 28)
        self.maximumCommandSequenceNumber = pdu.header.uint32(at: 32)
        self.parameters = try ISCSITextParameters.parse(pdu.data)
    }

    public var pdu: ISCSIPDU {
        var header = ISCSIBasicHeaderSegment(opcode: .textResponse)
        header.isFinal = true
        header.initiatorTaskTag = initiatorTaskTag
        header.setUInt32(0xFFFF_FFFF, at: 20)
        header.setUInt32(statusSequenceNumber, at: 24)
        header.setUInt32(expectedCommandSequenceNumber, at: 28)
        header.setUInt32(maximumCommandSequenceNumber, at: 32)
        return ISCSIPDU(header: header, data: parameters.encoded())
    }
}
