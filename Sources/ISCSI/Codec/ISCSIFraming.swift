/// What framing a connection uses. Digests switch on at the end of login, and the largest data
/// segment accepted is what this side declared as MaxRecvDataSegmentLength (bounded before login
/// too, so a peer cannot make us buffer without limit).
public struct ISCSIFraming: Hashable, Sendable {
    public var headerDigest: Bool
    public var dataDigest: Bool
    /// The largest data segment this side accepts.
    public var maximumDataSegmentLength: Int

    /// Before login completes: no digests, and the RFC's default of 8 KiB.
    public static let login = ISCSIFraming(headerDigest: false, dataDigest: false, maximumDataSegmentLength: 8192)

    public init(headerDigest: Bool, dataDigest: Bool, maximumDataSegmentLength: Int) {
        precondition(maximumDataSegmentLength >= 512 && maximumDataSegmentLength < 1 << 24)
        self.headerDigest = headerDigest
        self.dataDigest = dataDigest
        self.maximumDataSegmentLength = maximumDataSegmentLength
    }

    /// The bytes a PDU with this much AHS and data occupies on the wire.
    public func wireLength(ahsBytes: Int, dataBytes: Int) -> Int {
        ISCSIBasicHeaderSegment.length + ahsBytes + (headerDigest ? 4 : 0) + Self.padded(dataBytes) + (dataBytes > 0 && dataDigest ? 4 : 0)
    }

    static func padded(_ length: Int) -> Int { (length + 3) & ~3 }
}

/// The framing of one connection, shared by its decoder, encoder and handler, which all run on
/// the connection's event loop; the handler switches digests on when login completes, before any
/// full-feature PDU can arrive (the initiator waits for the final login response).
public final class ISCSIFramingBox {
    public var framing: ISCSIFraming

    public init(_ framing: ISCSIFraming = .login) {
        self.framing = framing
    }
}

@available(*, unavailable)
extension ISCSIFramingBox: Sendable {}
