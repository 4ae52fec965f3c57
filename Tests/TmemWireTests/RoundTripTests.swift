import NIOCore
import Testing
import Tmem
import TmemTestKit
import TmemWire

/// Encoding then parsing gives back the same frame, and the bytes sit where docs/PROTOCOL.md says.
@Suite struct RoundTripTests {
    @Test(arguments: Reader.allCases)
    func randomFramesSurviveEncodeThenParse(_ reader: Reader) throws {
        var rng = seededGenerator("randomFramesSurviveEncodeThenParse(\(reader))", default: 0x7133_0001)
        let frames = RandomFrames(reader)
        let parser = reader.parser
        for _ in 0..<1500 {
            let frame = frames.frame(using: &rng)
            var bytes = frame.encoded
            #expect(bytes.readableBytes == frame.wireSize)
            let parsed = try #require(try parser.parse(&bytes))
            #expect(parsed == frame)
            #expect(bytes.readableBytes == 0)
            #expect(parsed.payloadMatchesChecksum)
            #expect(parsed.entries.allSatisfy { $0.payloadMatchesChecksum })
        }
    }

    @Test(arguments: Reader.allCases)
    func aStreamOfFramesParsesInOrderFromAnyReaderIndex(_ reader: Reader) throws {
        var rng = seededGenerator("aStreamOfFramesParsesInOrderFromAnyReaderIndex(\(reader))", default: 0x7133_0002)
        let frames = (0..<200).map { _ in RandomFrames(reader, maxPayload: 600).frame(using: &rng) }
        var stream = ByteBuffer(bytes: [0xEE, 0xEE, 0xEE])
        stream.moveReaderIndex(forwardBy: 3)
        for frame in frames { stream.writeFrame(frame) }
        let parser = reader.parser
        var parsed: [Frame] = []
        while let frame = try parser.parse(&stream) { parsed.append(frame) }
        #expect(parsed == frames)
        #expect(stream.readableBytes == 0)
    }

    @Test func aTruncatedFrameConsumesNothing() throws {
        var rng = seededGenerator("aTruncatedFrameConsumesNothing", default: 0x7133_0003)
        let parser = Reader.hostAfterAuth.parser
        for _ in 0..<300 {
            let bytes = RandomFrames(.hostAfterAuth, maxPayload: 300).frame(using: &rng).encoded
            var prefix = bytes.getSlice(at: 0, length: Int.random(in: 0..<bytes.readableBytes, using: &rng))!
            let before = prefix.readableBytes
            #expect(try parser.parse(&prefix) == nil)
            #expect(prefix.readableBytes == before)
        }
    }

    /// The header table of docs/PROTOCOL.md, byte for byte, against `writeFrameHeader`.
    @Test func headerBytesSitWhereTheDocumentSays() throws {
        let header = FrameHeader(
            op: .put, flags: [.compressed, .quiet], status: .refusedCap, count: 0x0A0B, requestID: 0x0102_0304,
            pool: 0x1112_1314, object: 0x2122_2324_2526_2728, index: 0x3132_3334, length: 0x0000_0FED,
            checksum: 0x4142_4344)
        var buffer = ByteBuffer()
        buffer.writeFrameHeader(header)
        let expected: [UInt8] = [
            0x74, 0x6D, 0x01, 0x12, 0x81, 0x11, 0x0B, 0x0A,  // magic "tm", version, op, flags, status, count
            0x04, 0x03, 0x02, 0x01, 0x14, 0x13, 0x12, 0x11,  // request id, pool
            0x28, 0x27, 0x26, 0x25, 0x24, 0x23, 0x22, 0x21,  // object
            0x34, 0x33, 0x32, 0x31, 0xED, 0x0F, 0x00, 0x00,  // index, length
            0x44, 0x43, 0x42, 0x41,  // checksum
        ]
        #expect(Array(buffer.readableBytesView) == expected)
        #expect(Array("tm".utf8) == Array(expected[0..<2]))
    }

    /// The BATCH entry table of docs/PROTOCOL.md, byte for byte, against `writeBatchEntry`.
    @Test func batchEntryBytesSitWhereTheDocumentSays() throws {
        var buffer = ByteBuffer()
        let payload: [UInt8] = [1, 2, 3]
        payload.withUnsafeBytes {
            buffer.writeBatchEntry(
                op: .get, flags: .compressed, status: .miss, object: 0x2122_2324_2526_2728, index: 0x3132_3334,
                payload: $0)
        }
        let checksum = payload.withUnsafeBytes { tmem32($0) }
        var expected: [UInt8] = [
            0x13, 0x01, 0x01, 0x00, 0x34, 0x33, 0x32, 0x31,  // op, flags, status, reserved, index
            0x28, 0x27, 0x26, 0x25, 0x24, 0x23, 0x22, 0x21,  // object
            0x03, 0x00, 0x00, 0x00,  // length
        ]
        expected += withUnsafeBytes(of: checksum.littleEndian, Array.init) + payload
        #expect(Array(buffer.readableBytesView) == expected)
    }

    @Test func writeFrameSetsLengthAndChecksumFromThePayload() throws {
        var buffer = ByteBuffer()
        let payload = ByteBuffer(bytes: page(3))
        buffer.writeFrame(FrameHeader(op: .put, length: 1, checksum: 99), payload: payload)
        let parsed = try #require(try Reader.hostAfterAuth.parser.parse(&buffer))
        #expect(parsed.header.length == UInt32(Wire.pageSize))
        #expect(parsed.header.checksum == payload.withUnsafeReadableBytes { tmem32($0) })
        #expect(parsed.payload == payload)
    }

    @Test func replyEchoesTheRequestsKey() {
        let request = FrameHeader(op: .get, flags: .compressed, requestID: 5, pool: 6, object: 7, index: 8, length: 9)
        let reply = request.reply(.miss)
        #expect(reply == FrameHeader(op: .get, status: .miss, requestID: 5, pool: 6, object: 7, index: 8))
    }

    @Test func aDamagedPayloadFailsItsChecksum() throws {
        var bytes = Frame.single(FrameHeader(op: .put), payload: page(4)).encoded
        bytes.setInteger(UInt8(0xFF) ^ bytes.getInteger(at: Wire.headerSize + 1000)!, at: Wire.headerSize + 1000)
        let parsed = try #require(try Reader.hostAfterAuth.parser.parse(&bytes))
        #expect(!parsed.payloadMatchesChecksum)

        let entry = BatchEntry(op: .put, index: 0, object: 0, payload: ByteBuffer(bytes: page(5)), checksum: 12345)
        #expect(!entry.payloadMatchesChecksum)
        #expect(BatchEntry(op: .get, index: 0, object: 0).checksum == 0)
    }
}
