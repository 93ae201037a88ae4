/// The operational parameters of a session (RFC 7143 §13), with the RFC's defaults.
public struct ISCSISessionParameters: Hashable, Sendable {
    public enum SessionType: String, Hashable, Sendable {
        case normal = "Normal"
        case discovery = "Discovery"
    }

    public var sessionType: SessionType = .normal
    public var initiatorName = ""
    public var initiatorAlias: String?
    public var targetName: String?
    /// The initiator's session id (with its name, the initiator port: reservations key on it).
    public var isid: UInt64 = 0
    public var tsih: UInt16 = 0
    public var headerDigest = false
    public var dataDigest = false
    /// What the initiator can receive per PDU (bounds our Data-In).
    public var initiatorMaxRecvDataSegmentLength = 8192
    /// What we declared we can receive per PDU (bounds the initiator's Data-Out).
    public var targetMaxRecvDataSegmentLength = 8192
    public var maxBurstLength = 262_144
    public var firstBurstLength = 65_536
    public var initialR2T = true
    public var immediateData = true
    public var maxOutstandingR2T = 1
    public var defaultTime2Wait = 2
    public var defaultTime2Retain = 20
    public var errorRecoveryLevel = 0
    public var maxConnections = 1
    public var dataPDUInOrder = true
    public var dataSequenceInOrder = true

    public init() {}

    /// The SCSI initiator port name (RFC 7143 §13.x: `<name>,i,0x<ISID>`).
    public var initiatorPortName: String {
        let hex = String(isid, radix: 16)
        return initiatorName + ",i,0x" + String(repeating: "0", count: max(0, 12 - hex.count)) + hex
    }
}

/// What a target offers and accepts during negotiation.
public struct ISCSITargetLimits: Hashable, Sendable {
    public var acceptsCRC32C = true
    public var maxRecvDataSegmentLength = 262_144
    public var maxBurstLength = 1_048_576
    public var firstBurstLength = 262_144
    public var initialR2T = false
    public var immediateData = true
    public var maxOutstandingR2T = 16
    public var defaultTime2Wait = 2
    public var defaultTime2Retain = 20
    public var targetPortalGroupTag = 1
    /// How many commands a session may have queued beyond ExpCmdSN (the command window).
    public var commandWindow: UInt32 = 128
    /// Connections the portal holds at once; more are closed as they arrive (each one's buffers
    /// are bounded, so this bounds the whole target).
    public var maximumConnections = 1024
    /// Whether writes without FUA may run on the event loop (they copy into the page cache; a
    /// write that stalls sends the connection's writes to the I/O threads for 5 s).
    public var inlineBufferedWrites = true

    public init() {}
}
