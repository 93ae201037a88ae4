import NIOCore

/// Writes PDUs with their padding and digests, header and data in one buffer so one flush sends both.
public struct ISCSIPDUEncoder: MessageToByteEncoder {
    public typealias OutboundIn = ISCSIPDU

    let box: ISCSIFramingBox

    public var framing: ISCSIFraming { box.framing }

    public init(framing: ISCSIFraming = .login) {
        self.box = ISCSIFramingBox(framing)
    }

    public init(sharing box: ISCSIFramingBox) {
        self.box = box
    }

    public func encode(data pdu: ISCSIPDU, out: inout ByteBuffer) throws {
        var header = pdu.header
        header.totalAHSLengthWords = UInt8(pdu.additionalHeaderSegments.count / 4)
        header.dataSegmentLength = pdu.data.readableBytes
        let dataBytes = pdu.data.readableBytes
        out.reserveCapacity(minimumWritableBytes: framing.wireLength(ahsBytes: pdu.additionalHeaderSegments.count, dataBytes: dataBytes))
        out.writeBytes(header.bytes)
        out.writeBytes(pdu.additionalHeaderSegments)
        if framing.headerDigest {
            out.writeInteger(CRC32C.checksum(header.bytes + pdu.additionalHeaderSegments), endianness: .little, as: UInt32.self)
        }
        guard dataBytes > 0 else { return }
        out.writeImmutableBuffer(pdu.data)
        let padding = [UInt8](repeating: 0, count: ISCSIFraming.padded(dataBytes) - dataBytes)
        out.writeBytes(padding)
        if framing.dataDigest {
            out.writeInteger(CRC32C.checksum(padding, continuing: CRC32C.checksum(pdu.data.readableBytesView)), endianness: .little, as: UInt32.self)
        }
    }
}
