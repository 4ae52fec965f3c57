import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing
import Tmem
import TmemWire

/// `FrameDecoder` under NIOTestUtils' verifier: every frame shape fed byte by byte (from buffers whose
/// reader index is not 0), whole, and many at once, for each kind of reader.
@Suite struct FrameDecoderTests {
    @Test(arguments: Reader.allCases)
    func decodesEveryShapeByteByByteAndAtOnce(_ reader: Reader) throws {
        let frames = Self.frames(for: reader)
        // One input holding two frames, to check a decoder that produces more than one per read.
        var pairs = frames.map { ($0.encoded, [$0]) }
        var two = frames[0].encoded
        two.writeImmutableBuffer(frames[frames.count - 1].encoded)
        pairs.append((two, [frames[0], frames[frames.count - 1]]))
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) {
            FrameDecoder(parser: reader.parser)
        }
    }

    @Test func batchOfSixtyFourEntriesDecodesByteByByte() throws {
        let entries = (0..<64).map { i in
            BatchEntry(
                op: i.isMultiple(of: 2) ? .get : .flushPage, flags: i.isMultiple(of: 4) ? .compressed : [],
                index: UInt32(i), object: UInt64(i) << 40)
        }
        let batch = Frame.batch(FrameHeader(op: .batch, requestID: 64, pool: 2), entries)
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: [(batch.encoded, [batch])]) {
            FrameDecoder(parser: Reader.hostAfterAuth.parser)
        }
    }

    @Test func wholeFramesBeforeTheEndAreDeliveredAndAPartialOneIsNot() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(parser: Reader.client.parser)))
        let ping = Frame.single(FrameHeader(op: .ping, requestID: 1))
        var bytes = ping.encoded
        var get = Frame.single(FrameHeader(op: .get, requestID: 2), payload: page(1)).encoded
        bytes.writeImmutableBuffer(get.readSlice(length: Wire.headerSize + 100)!)
        try channel.writeInbound(bytes)
        #expect(try channel.readInbound(as: Frame.self) == ping)
        #expect(try channel.readInbound(as: Frame.self) == nil)
        _ = try? channel.finish()
        #expect(try channel.readInbound(as: Frame.self) == nil)
    }

    @Test func protocolErrorReachesThePipeline() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(FrameDecoder(parser: Reader.hostBeforeAuth.parser)))
        let ping = Frame.single(FrameHeader(op: .ping, requestID: 1)).encoded
        #expect(throws: WireProtocolError("PING before authentication")) { try channel.writeInbound(ping) }
        _ = try? channel.finish()
    }

    /// Frames of every op shape a reader of this kind accepts.
    static func frames(for reader: Reader) -> [Frame] {
        let token = SessionToken(0x0102_0304_0506_0708, 0x1112_1314_1516_1718)
        switch reader {
        case .hostBeforeAuth:
            let hello = Hello(name: "vm-01.example_A").frame(requestID: 1)
            let join = Hello(name: "vm-01", join: SessionJoin(id: 42, token: token)).frame(requestID: 2)
            return [
                Frame.single(hello.header, payload: Array(hello.payload.readableBytesView)),
                Frame.single(join.header, payload: Array(join.payload.readableBytesView)),
                Frame.single(FrameHeader(op: .auth, requestID: 3), payload: page(9, count: 32)),
                Frame.single(FrameHeader(op: .auth, requestID: 4)),
                Frame.single(FrameHeader(op: .hello, requestID: 5), payload: page(3, count: Wire.maxHandshakePayload)),
            ]
        case .hostAfterAuth:
            let key = FrameHeader(op: .put, requestID: 10, pool: 1, object: 0xAB_CDEF_0123, index: 77)
            func with(_ op: WireOp, _ flags: WireFlags = []) -> FrameHeader {
                var header = key
                header.op = op
                header.flags = flags
                return header
            }
            return [
                Frame.single(FrameHeader(op: .createPool, flags: .ephemeral, requestID: 1)),
                Frame.single(FrameHeader(op: .createPool, flags: .shared, requestID: 2), payload: page(4, count: 16)),
                Frame.single(FrameHeader(op: .destroyPool, flags: .quiet, requestID: 3, pool: 9)),
                Frame.single(with(.put), payload: page(1)),
                Frame.single(with(.put, [.compressed, .quiet]), payload: page(2, count: 301)),
                Frame.single(with(.get, .compressed)),
                Frame.single(with(.get)),
                Frame.single(with(.flushPage, .quiet)),
                Frame.single(with(.flushObject)),
                Frame.single(FrameHeader(op: .barrier, requestID: 11)),
                Frame.single(FrameHeader(op: .ping, requestID: 12)),
                Frame.single(FrameHeader(op: .stats, requestID: 13)),
                Frame.single(FrameHeader(op: .configure, requestID: 14), payload: Array("vm-01:weight=2,cap=1G".utf8)),
                Frame.batch(
                    FrameHeader(op: .batch, flags: .quiet, requestID: 15, pool: 1),
                    [
                        BatchEntry(op: .put, index: 0, object: 5, payload: ByteBuffer(bytes: page(5))),
                        BatchEntry(op: .get, flags: .compressed, index: 1, object: 5),
                        BatchEntry(
                            op: .put, flags: .compressed, index: 2, object: 5,
                            payload: ByteBuffer(bytes: page(6, count: 17))),
                        BatchEntry(op: .flushPage, index: 3, object: 5),
                        BatchEntry(op: .get, index: 4, object: 6),
                    ]),
                Frame.batch(
                    FrameHeader(op: .batch, requestID: 16, pool: 1), [BatchEntry(op: .get, index: 9, object: 9)]),
            ]
        case .client:
            let get = FrameHeader(op: .get, requestID: 20, pool: 1, object: 5, index: 6)
            let welcome = Welcome(sessionID: 42, token: token, pageSize: 4096, maxInFlight: 256, maxBatchEntries: 64)
            let challenge = Challenge(nonce: page(8, count: 32), pageSize: 4096, secretRequired: true)
            return [
                Frame.single(
                    FrameHeader(op: .challenge, requestID: 1), payload: Array(challenge.encode().readableBytesView)),
                Frame.single(
                    FrameHeader(op: .welcome, requestID: 2), payload: Array(welcome.encode().readableBytesView)),
                Frame.single(FrameHeader(op: .welcome, status: .authFailed, requestID: 2)),
                Frame.single(get.reply(.ok), payload: page(7)),
                Frame.single(get.reply(.ok, flags: .compressed), payload: page(7, count: 900)),
                Frame.single(get.reply(.miss)),
                Frame.single(FrameHeader(op: .put, status: .refusedShare, requestID: 21, pool: 1, object: 5)),
                Frame.single(FrameHeader(op: .flushPage, requestID: 22, index: 1)),
                Frame.single(FrameHeader(op: .stats, flags: .more, requestID: 23), payload: Array("{\"host\":{".utf8)),
                Frame.single(FrameHeader(op: .stats, requestID: 23), payload: Array("}}".utf8)),
                Frame.single(FrameHeader(op: .shrink, object: 1000, index: 5000)),
                Frame.single(FrameHeader(op: .goAway), payload: Array("shutting down".utf8)),
                Frame.batch(
                    FrameHeader(op: .batch, requestID: 24, pool: 1),
                    [
                        BatchEntry(op: .put, status: .refusedCapacity, index: 0, object: 5),
                        BatchEntry(
                            op: .get, flags: .compressed, index: 1, object: 5,
                            payload: ByteBuffer(bytes: page(9, count: 1000))),
                        BatchEntry(op: .get, status: .miss, index: 2, object: 5),
                        BatchEntry(op: .flushPage, index: 3, object: 5),
                        BatchEntry(op: .get, index: 4, object: 6, payload: ByteBuffer(bytes: page(10))),
                    ]),
            ]
        }
    }
}
