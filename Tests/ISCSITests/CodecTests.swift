import ISCSI
import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

struct CRC32CTests {
    // RFC 3720 Appendix B.4.
    @Test func rfcVectors() {
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).reversed().map { UInt8($0) }) == 0x113F_DB5C)
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    }

    @Test func continuesAcrossPieces() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<100 {
            let bytes = (0..<Int.random(in: 0...300, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let split = Int.random(in: 0...bytes.count, using: &generator)
            #expect(CRC32C.checksum(bytes[split...], continuing: CRC32C.checksum(bytes[..<split])) == CRC32C.checksum(bytes))
        }
    }
}

struct PDUCodecTests {
    static func loginPDU(_ text: ISCSITextParameters = ["InitiatorName": "iqn.2026-11.test:host", "SessionType": "Normal"]) -> ISCSIPDU {
        ISCSILoginRequest(
            transit: true, currentStage: .securityNegotiation, nextStage: .operationalNegotiation, isid: 0x8000_1234_5678, initiatorTaskTag: 7,
            commandSequenceNumber: 1, expectedStatusSequenceNumber: 0, parameters: text
        ).pdu
    }

    static func encode(_ pdu: ISCSIPDU, framing: ISCSIFraming) throws -> ByteBuffer {
        var buffer = ByteBuffer()
        try ISCSIPDUEncoder(framing: framing).encode(data: pdu, out: &buffer)
        return buffer
    }

    static let framings = [
        ISCSIFraming.login,
        ISCSIFraming(headerDigest: true, dataDigest: false, maximumDataSegmentLength: 65536),
        ISCSIFraming(headerDigest: true, dataDigest: true, maximumDataSegmentLength: 65536),
    ]

    @Test(arguments: framings)
    func decoderVerifier(_ framing: ISCSIFraming) throws {
        // Data lengths that do and do not need padding, and an empty one.
        let pdus = [Self.loginPDU(), Self.loginPDU(["InitiatorName": "iqn.x"]), Self.loginPDU([:])]
        let pairs = try pdus.map { (try Self.encode($0, framing: framing), [$0]) }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { ISCSIPDUDecoder(framing: framing) }
    }

    /// The zero-copy writer puts the same bytes on the wire as the single-buffer encoder.
    @Test(arguments: framings)
    func writerMatchesEncoder(_ framing: ISCSIFraming) throws {
        let channel = EmbeddedChannel(handler: ISCSIPDUWriter(sharing: ISCSIFramingBox(framing)))
        for size in [0, 1, 3, 4095, 4096, 4097, 65_535] {
            var header = ISCSIBasicHeaderSegment(opcode: .dataIn)
            header.initiatorTaskTag = UInt32(size)
            let pdu = ISCSIPDU(header: header, data: ByteBuffer(bytes: (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) }))
            try channel.writeAndFlush(pdu).wait()
            var written = ByteBuffer()
            while var piece = try channel.readOutbound(as: ByteBuffer.self) { written.writeBuffer(&piece) }
            #expect(written == (try Self.encode(pdu, framing: framing)), "\(size) bytes")
        }
        _ = try channel.finish()
    }

    @Test func wireLayoutAndPadding() throws {
        let pdu = Self.loginPDU(["A": "b"])  // "A=b\0" is 4 bytes: no padding
        let plain = try Self.encode(pdu, framing: .login)
        #expect(plain.readableBytes == 48 + 4)
        #expect(plain.getInteger(at: 0, as: UInt8.self) == 0x43, "immediate bit and opcode 0x03")
        let odd = try Self.encode(Self.loginPDU(["A": "bc"]), framing: .login)
        #expect(odd.readableBytes == 48 + 8, "5 bytes of data padded to 8")
        let digested = try Self.encode(pdu, framing: Self.framings[2])
        #expect(digested.readableBytes == 48 + 4 + 4 + 4)
        let headerDigest = digested.getInteger(at: 48, endianness: .little, as: UInt32.self)
        #expect(headerDigest == CRC32C.checksum(digested.getBytes(at: 0, length: 48)!))
    }

    @Test func loginRequestRoundTrips() throws {
        let request = ISCSILoginRequest(
            transit: true, continues: false, currentStage: .operationalNegotiation, nextStage: .fullFeaturePhase, versionMax: 0, versionMin: 0,
            isid: 0x0023_4567_89AB, tsih: 0, initiatorTaskTag: 0xDEAD_BEEF, connectionID: 3, commandSequenceNumber: 42,
            expectedStatusSequenceNumber: 9, parameters: ["MaxBurstLength": "262144", "HeaderDigest": "CRC32C,None"]
        )
        #expect(try ISCSILoginRequest(request.pdu) == request)
    }

    @Test func corruptedDigestsAndOversizedDataAreErrors() throws {
        let framing = Self.framings[2]
        var header = try Self.encode(Self.loginPDU(), framing: framing)
        header.setInteger(header.getInteger(at: 20, as: UInt8.self)! ^ 1, at: 20)
        var decoder = ISCSIPDUDecoder(framing: framing)
        #expect(throws: ISCSIProtocolError(.headerDigestMismatch, "")) { _ = try decoder.decode(buffer: &header) }

        var data = try Self.encode(Self.loginPDU(), framing: framing)
        data.setInteger(data.getInteger(at: 60, as: UInt8.self)! ^ 0x20, at: 60)
        #expect(throws: ISCSIProtocolError(.dataDigestMismatch, "")) { _ = try decoder.decode(buffer: &data) }

        var big = ISCSIBasicHeaderSegment(opcode: .scsiCommand)
        big.dataSegmentLength = 9000
        var oversized = ByteBuffer(bytes: big.bytes)
        var small = ISCSIPDUDecoder(framing: .login)
        #expect(throws: ISCSIProtocolError(.dataSegmentTooLong, "")) { _ = try small.decode(buffer: &oversized) }
    }

    @Test func truncatedPDUsWaitThenFailAtEOF() throws {
        let whole = try Self.encode(Self.loginPDU(), framing: .login)
        for cut in [1, 47, 48, whole.readableBytes - 1] {
            var partial = whole.getSlice(at: 0, length: cut)!
            var decoder = ISCSIPDUDecoder()
            #expect(try decoder.decode(buffer: &partial) == nil)
            #expect(partial.readableBytes == cut, "the reader index is untouched")
            #expect(throws: ISCSIProtocolError(.truncated, "")) { _ = try decoder.decodeLast(buffer: &partial, seenEOF: true) }
        }
    }

    /// Random bytes through a real channel pipeline: the decoder throws or waits, never crashes,
    /// and never buffers more than one PDU's worth.
    @Test func randomBytesNeverCrashTheDecoder() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let channel = EmbeddedChannel(handler: ByteToMessageHandler(ISCSIPDUDecoder(), maximumBufferSize: 48 + 8192 + 8))
            var bytes = ByteBuffer(bytes: (0..<Int.random(in: 0...400, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) })
            if Bool.random(using: &generator) {
                // Keep the header plausible so the decoder goes further in.
                bytes.setInteger(UInt8(0x43), at: 0)
                if bytes.readableBytes > 8 { bytes.setBytes([0, 0, 0, UInt8.random(in: 0...8, using: &generator)], at: 4) }
            }
            do {
                try channel.writeInbound(bytes)
                while let _: ISCSIPDU = try channel.readInbound() {}
            } catch {
                #expect(error is ISCSIProtocolError || error is ByteToMessageDecoderError, "\(error)")
            }
            _ = try? channel.finish()
        }
    }
}

struct TextParameterTests {
    @Test func parsesAndEncodesInOrder() throws {
        var buffer = ByteBuffer(string: "InitiatorName=iqn.a\0SessionType=Normal\0")
        let parameters = try ISCSITextParameters.parse(buffer)
        #expect(parameters.keys == ["InitiatorName", "SessionType"])
        #expect(parameters["SessionType"] == "Normal")
        #expect(parameters.encoded() == buffer)
        buffer = ByteBuffer(string: "A=1")  // no trailing NUL
        #expect(try ISCSITextParameters.parse(buffer)["A"] == "1")
        #expect(try ISCSITextParameters.parse(ByteBuffer()).pairs.isEmpty)
        #expect(try ISCSITextParameters.parse(ByteBuffer(string: "A=\0"))["A"] == "")
    }

    @Test(arguments: ["NoEquals\0", "=value\0", "A=1\0A=2\0", String(repeating: "K", count: 64) + "=v\0", "A=" + String(repeating: "v", count: 8193)])
    func refusesMalformedText(_ text: String) {
        #expect(throws: ISCSIProtocolError.self) { try ISCSITextParameters.parse(ByteBuffer(string: text)) }
    }
}
