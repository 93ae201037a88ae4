import NIOCore

/// Frames PDUs from a byte stream: BHS, AHS, header digest, data, padding, data digest.
/// Returns nil (reader index untouched) until a whole PDU is there; a data segment longer than
/// allowed, or a digest that does not match, is an error (the connection is then dropped, which
/// RFC 7143 asks for at ErrorRecoveryLevel 0).
public struct ISCSIPDUDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = ISCSIPDU

    let box: ISCSIFramingBox

    /// The framing in force (shared with the connection's encoder and handler).
    public var framing: ISCSIFraming { box.framing }

    public init(framing: ISCSIFraming = .login) {
        self.box = ISCSIFramingBox(framing)
    }

    /// A decoder following a box the connection handler updates when login completes.
    public init(sharing box: ISCSIFramingBox) {
        self.box = box
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> ISCSIPDU? {
        guard let headerBytes = buffer.getBytes(at: buffer.readerIndex, length: ISCSIBasicHeaderSegment.length) else { return nil }
        let header = ISCSIBasicHeaderSegment(bytes: headerBytes)
        let ahsBytes = Int(header.totalAHSLengthWords) * 4
        let dataBytes = header.dataSegmentLength
        guard dataBytes <= framing.maximumDataSegmentLength else {
            throw ISCSIProtocolError(
                .dataSegmentTooLong, "\(header.opcode) carries \(dataBytes) bytes of data; at most \(framing.maximumDataSegmentLength) are accepted",
                headerBytes: headerBytes
            )
        }
        let total = framing.wireLength(ahsBytes: ahsBytes, dataBytes: dataBytes)
        guard buffer.readableBytes >= total else { return nil }

        var frame = buffer.readSlice(length: total)!
        let headerAndAHS = frame.readBytes(length: ISCSIBasicHeaderSegment.length + ahsBytes)!
        if framing.headerDigest {
            let digest = frame.readInteger(endianness: .little, as: UInt32.self)!
            guard digest == CRC32C.checksum(headerAndAHS) else {
                throw ISCSIProtocolError(.headerDigestMismatch, "header digest mismatch on \(header.opcode)", headerBytes: headerBytes)
            }
        }
        var data = frame.readSlice(length: dataBytes)!
        let padding = frame.readBytes(length: ISCSIFraming.padded(dataBytes) - dataBytes)!
        if framing.dataDigest && dataBytes > 0 {
            let digest = frame.readInteger(endianness: .little, as: UInt32.self)!
            let computed = CRC32C.checksum(padding, continuing: CRC32C.checksum(data.readableBytesView))
            guard digest == computed else {
                throw ISCSIProtocolError(.dataDigestMismatch, "data digest mismatch on \(header.opcode)", headerBytes: headerBytes)
            }
        }
        assert(frame.readableBytes == 0, "the frame was consumed exactly")
        // Small segments are copied so they do not pin the receive buffer; large ones (write
        // data, copied once more into the write anyway) are passed on as slices.
        if dataBytes < 4096 { data = ByteBuffer(buffer: data) }
        return ISCSIPDU(header: header, additionalHeaderSegments: Array(headerAndAHS[ISCSIBasicHeaderSegment.length...]), data: data)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> ISCSIPDU? {
        if let pdu = try decode(buffer: &buffer) { return pdu }
        if seenEOF, buffer.readableBytes > 0 {
            throw ISCSIProtocolError(.truncated, "the connection closed in the middle of a PDU (\(buffer.readableBytes) bytes left)")
        }
        return nil
    }
}
