import NIOCore

/// An I_T nexus: which initiator port reaches the logical unit through which target port.
/// Reservations and unit attentions are kept per nexus (SAM-5).
public struct SCSINexus: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The iSCSI initiator port name: `<InitiatorName>,i,0x<ISID>`.
    public var initiatorPort: String
    /// The iSCSI target port name: `<TargetName>,t,0x<TPGT>`.
    public var targetPort: String

    public init(initiatorPort: String, targetPort: String) {
        self.initiatorPort = initiatorPort
        self.targetPort = targetPort
    }

    /// The initiator's name without the port suffix.
    public var initiatorName: String {
        initiatorPort.split(separator: ",", maxSplits: 1).first.map(String.init) ?? initiatorPort
    }

    public var description: String { initiatorPort }
}

/// SAM task attributes.
public enum SCSITaskAttribute: UInt8, Sendable {
    case untagged = 0, simple = 1, ordered = 2, headOfQueue = 3, autoContingentAllegiance = 4
}

/// One command as the transport hands it to a logical unit.
public struct SCSIRequest: Sendable {
    public var cdb: [UInt8]
    /// A read's data, already fetched from the page cache by ``SCSILogicalUnit/executeWithoutBlocking(_:allowBufferedWrites:)``.
    var prefetched: ByteBuffer?
    /// Everything the initiator sent for it (immediate, unsolicited and solicited data).
    public var dataOut: ByteBuffer
    public var nexus: SCSINexus
    public var attribute: SCSITaskAttribute
    /// The initiator's Expected Data Transfer Length.
    public var expectedDataTransferLength: Int

    public init(cdb: [UInt8], dataOut: ByteBuffer = ByteBuffer(), nexus: SCSINexus, attribute: SCSITaskAttribute = .simple, expectedDataTransferLength: Int = 0) {
        self.cdb = cdb
        self.dataOut = dataOut
        self.nexus = nexus
        self.attribute = attribute
        self.expectedDataTransferLength = expectedDataTransferLength
    }
}
