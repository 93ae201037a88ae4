import NIOCore

/// NOP-Out (RFC 7143 §11.18) and NOP-In (§11.19) fields the target needs.
public enum ISCSINop {
    /// The NOP-In answering a NOP-Out ping: same ITT and data.
    public static func reply(to nopOut: ISCSIPDU, sequence: ISCSISequenceNumbers) -> ISCSIPDU {
        var header = ISCSIBasicHeaderSegment(opcode: .nopIn)
        header.isFinal = true
        header.logicalUnitNumber = nopOut.header.logicalUnitNumber
        header.initiatorTaskTag = nopOut.header.initiatorTaskTag
        header.setUInt32(0xFFFF_FFFF, at: 20)
        sequence.write(to: &header)
        return ISCSIPDU(header: header, data: nopOut.data)
    }

    /// A NOP-Out's ITT; 0xFFFFFFFF means it answers a NOP-In and needs no reply.
    public static func initiatorTaskTag(of nopOut: ISCSIPDU) -> UInt32 { nopOut.header.initiatorTaskTag }
}

/// Logout Request (RFC 7143 §11.14) and Logout Response (§11.15).
public enum ISCSILogout {
    public static func reasonCode(of request: ISCSIPDU) -> UInt8 { request.header.flags & 0x7F }

    public static func response(to request: ISCSIPDU, sequence: ISCSISequenceNumbers, time2Wait: UInt16 = 0, time2Retain: UInt16 = 0) -> ISCSIPDU {
        var header = ISCSIBasicHeaderSegment(opcode: .logoutResponse)
        header.isFinal = true
        header.setUInt8(0, at: 2)  // connection or session closed successfully
        header.initiatorTaskTag = request.header.initiatorTaskTag
        sequence.write(to: &header)
        header.setUInt16(time2Wait, at: 40)
        header.setUInt16(time2Retain, at: 42)
        return ISCSIPDU(header: header)
    }
}

/// Reject (RFC 7143 §11.17): the target could not accept a PDU; its header is returned.
public enum ISCSIReject {
    public enum Reason: UInt8, Sendable {
        case dataDigestError = 0x02
        case protocolError = 0x04
        case commandNotSupported = 0x05
        case invalidPDUField = 0x09
        case waitingForLogout = 0x0B
    }

    public static func pdu(rejecting rejected: ISCSIBasicHeaderSegment, reason: Reason, sequence: ISCSISequenceNumbers) -> ISCSIPDU {
        var header = ISCSIBasicHeaderSegment(opcode: .reject)
        header.isFinal = true
        header.setUInt8(reason.rawValue, at: 2)
        header.initiatorTaskTag = 0xFFFF_FFFF
        sequence.write(to: &header)
        return ISCSIPDU(header: header, data: ByteBuffer(bytes: rejected.bytes))
    }
}

/// Task Management Function Response (RFC 7143 §11.6).
public struct ISCSITaskManagementResponse: Hashable, Sendable {
    public enum Result: UInt8, Sendable {
        case functionComplete = 0
        case taskDoesNotExist = 1
        case logicalUnitDoesNotExist = 2
        case taskStillAllegiant = 3
        case reassignmentNotSupported = 4
        case functionNotSupported = 5
        case authorizationFailed = 6
        case functionRejected = 255
    }

    public var result: Result
    public var initiatorTaskTag: UInt32
    public var sequence: ISCSISequenceNumbers

    public init(result: Result, initiatorTaskTag: UInt32, sequence: ISCSISequenceNumbers) {
        self.result = result
        self.initiatorTaskTag = initiatorTaskTag
        self.sequence = sequence
    }

    public init(_ pdu: ISCSIPDU) {
        precondition(pdu.opcode == .taskManagementResponse)
        self.result = Result(rawValue: pdu.header.uint8(at: 2)) ?? .functionRejected
        self.initiatorTaskTag = pdu.header.initiatorTaskTag
        self.sequence = ISCSISequenceNumbers(pdu.header)
    }

    public var pdu: ISCSIPDU {
        var header = ISCSIBasicHeaderSegment(opcode: .taskManagementResponse)
        header.isFinal = true
        header.setUInt8(result.rawValue, at: 2)
        header.initiatorTaskTag = initiatorTaskTag
        sequence.write(to: &header)
        return ISCSIPDU(header: header)
    }
}
