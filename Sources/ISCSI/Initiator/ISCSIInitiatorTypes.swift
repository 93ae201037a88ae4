import NIOCore

/// One SCSI command for the initiator to send.
public struct ISCSIInitiatorRequest: Sendable {
    public var cdb: [UInt8]
    /// Data to write (the command is a write when present).
    public var dataOut: ByteBuffer?
    /// Bytes the command may read.
    public var expectedDataIn: Int

    public init(cdb: [UInt8], dataOut: ByteBuffer? = nil, expectedDataIn: Int = 0) {
        precondition(cdb.count <= 16, "CDBs longer than 16 bytes need an AHS")
        self.cdb = cdb
        self.dataOut = dataOut
        self.expectedDataIn = expectedDataIn
    }
}

/// How a command ended.
public struct ISCSICommandOutcome: Sendable {
    public var status: UInt8
    /// Sense data on CHECK CONDITION.
    public var senseData: [UInt8]
    public var data: ByteBuffer
    public var residual: ISCSIResidual

    /// Sense key, ASC and ASCQ of fixed or descriptor sense data.
    public var sense: (key: UInt8, code: UInt8, qualifier: UInt8)? {
        guard senseData.count >= 4 else { return nil }
        if senseData[0] & 0x7F >= 0x72 { return (senseData[1] & 0x0F, senseData[2], senseData[3]) }
        guard senseData.count >= 14 else { return nil }
        return (senseData[2] & 0x0F, senseData[12], senseData[13])
    }
}

/// What login settled (RFC 7143 §13), seen from the initiator.
public struct ISCSINegotiatedParameters: Sendable, Hashable {
    /// The largest PDU data segment the target accepts from us.
    public var targetMaxRecvDataSegmentLength = 8192
    /// The largest we accept.
    public var initiatorMaxRecvDataSegmentLength = 262_144
    public var firstBurstLength = 65_536
    public var maxBurstLength = 262_144
    public var immediateData = true
    public var initialR2T = true
    public var targetPortalGroupTag: Int?

    public init() {}
}

/// Why an initiator call failed.
public enum ISCSIInitiatorError: Error, Sendable, Hashable, CustomStringConvertible {
    case connectionClosed
    case loginRefused(status: UInt16, reason: String)
    case protocolViolation(String)
    case tooManyQueuedCommands
    case timedOut
    /// The command was ended by a task management function (ABORT TASK SET) the initiator sent.
    case aborted

    public var description: String {
        switch self {
        case .connectionClosed: "the connection to the target closed"
        case .loginRefused(let status, let reason): "login refused: \(reason) (status 0x\(String(status, radix: 16)))"
        case .protocolViolation(let reason): "iSCSI protocol violation: \(reason)"
        case .tooManyQueuedCommands: "too many commands queued for the command window"
        case .timedOut: "the target did not answer in time"
        case .aborted: "the command was aborted"
        }
    }
}

/// A target a discovery session reported.
public struct ISCSIDiscoveredTarget: Sendable, Hashable {
    public var name: String
    /// `host:port,tpgt` entries.
    public var addresses: [String]
}
