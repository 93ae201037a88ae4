import NIOCore

/// Writes PDUs without copying their data: the header (with AHS and header digest) goes out as
/// one small buffer and the data segment as the caller's own buffer, followed by padding and data
/// digest; the socket sends them with one `writev` on the next flush. For a 1 MiB Data-In this
/// saves a 1 MiB copy per command compared with encoding into a single buffer.
public final class ISCSIPDUWriter: ChannelOutboundHandler {
    public typealias OutboundIn = ISCSIPDU
    public typealias OutboundOut = ByteBuffer

    let box: ISCSIFramingBox

    public init(sharing box: ISCSIFramingBox) {
        self.box = box
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let pdu = unwrapOutboundIn(data)
        let framing = box.framing
        var header = pdu.header
        header.totalAHSLengthWords = UInt8(pdu.additionalHeaderSegments.count / 4)
        let dataBytes = pdu.data.readableBytes
        header.dataSegmentLength = dataBytes
        let padding = ISCSIFraming.padded(dataBytes) - dataBytes
        let trailer = padding + (framing.dataDigest && dataBytes > 0 ? 4 : 0)

        var head = context.channel.allocator.buffer(capacity: ISCSIBasicHeaderSegment.length + pdu.additionalHeaderSegments.count + 4 + (dataBytes < 4096 ? dataBytes + trailer : 0))
        head.writeBytes(header.bytes)
        head.writeBytes(pdu.additionalHeaderSegments)
        if framing.headerDigest {
            head.writeInteger(CRC32C.checksum(header.bytes + pdu.additionalHeaderSegments), endianness: .little, as: UInt32.self)
        }
        guard dataBytes > 0 else {
            context.write(wrapOutboundOut(head), promise: promise)
            return
        }
        let paddingBytes = [UInt8](repeating: 0, count: padding)
        var digest: UInt32?
        if framing.dataDigest { digest = CRC32C.checksum(paddingBytes, continuing: CRC32C.checksum(pdu.data.readableBytesView)) }
        if dataBytes < 4096 {
            // Small data: copying is cheaper than another iovec.
            head.writeImmutableBuffer(pdu.data)
            head.writeBytes(paddingBytes)
            if let digest { head.writeInteger(digest, endianness: .little, as: UInt32.self) }
            context.write(wrapOutboundOut(head), promise: promise)
            return
        }
        context.write(wrapOutboundOut(head), promise: nil)
        guard trailer > 0 else {
            context.write(wrapOutboundOut(pdu.data), promise: promise)
            return
        }
        context.write(wrapOutboundOut(pdu.data), promise: nil)
        var tail = context.channel.allocator.buffer(capacity: trailer)
        tail.writeBytes(paddingBytes)
        if let digest { tail.writeInteger(digest, endianness: .little, as: UInt32.self) }
        context.write(wrapOutboundOut(tail), promise: promise)
    }
}

@available(*, unavailable)
extension ISCSIPDUWriter: Sendable {}
