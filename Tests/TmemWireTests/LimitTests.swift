import NIOCore
import Testing
import TmemWire

/// docs/PROTOCOL.md, "Limits": every rule is checked from the header (or a BATCH entry's header) alone.
/// Each input below is only headers, declaring a payload that never arrives: a parser that waited for
/// it would return nil, which these tests count as a failure.
@Suite struct LimitTests {
    /// A header declaring a page that has not arrived; `patches` break it.
    static func put(
        _ flags: WireFlags = [], status: WireStatus = .ok, count: UInt16 = 0, length: UInt32 = 4096,
        checksum: UInt32 = 0xC0FFEE, patches: [Int: UInt8] = [:]
    ) -> ByteBuffer {
        headerBytes(
            FrameHeader(
                op: .put, flags: flags, status: status, count: count, requestID: 1, pool: 1, object: 2, index: 3,
                length: length, checksum: checksum), patches: patches)
    }

    static func header(
        _ op: WireOp, flags: WireFlags = [], status: WireStatus = .ok, length: UInt32 = 0, checksum: UInt32 = 0
    ) -> ByteBuffer {
        headerBytes(FrameHeader(op: op, flags: flags, status: status, requestID: 1, length: length, checksum: checksum))
    }

    /// A BATCH header of `count` entries followed by `entries` (whole entries, or entry headers alone).
    static func batch(count: UInt16 = 2, length: UInt32 = 0, checksum: UInt32 = 0, entries: [ByteBuffer] = [])
        -> ByteBuffer
    {
        var buffer = headerBytes(
            FrameHeader(op: .batch, count: count, requestID: 1, pool: 1, length: length, checksum: checksum))
        for entry in entries { buffer.writeImmutableBuffer(entry) }
        return buffer
    }

    /// A whole, valid GET entry: the rule under test is broken by the entry after it.
    static let goodEntry = entryHeaderBytes(op: WireOp.get.rawValue)

    @Test(arguments: Reader.allCases)
    func badMagicIsDetectedAfterTwoBytes(_ reader: Reader) {
        // Swapped, off by one, zeros, and the start of an HTTP "GET".
        for magic: [UInt8] in [[0x6D, 0x74], [0x74, 0x6E], [0x00, 0x00], [0x47, 0x45]] {
            var one = ByteBuffer(bytes: [magic[0]])
            expectNil(&one, reader)
            expectRejected(ByteBuffer(bytes: magic), by: reader, because: "bad magic")
            expectRejected(Self.put(patches: [0: magic[0], 1: magic[1]]), by: reader, because: "bad magic")
        }
        var good = ByteBuffer(bytes: [0x74, 0x6D])
        expectNil(&good, reader)
    }

    @Test(arguments: Reader.allCases)
    func wrongVersionIsRejected(_ reader: Reader) {
        for version: UInt8 in [0, 2, 0xFF] {
            expectRejected(Self.put(patches: [2: version]), by: reader, because: "unsupported version \(version)")
        }
    }

    @Test(arguments: Reader.allCases)
    func unknownOpIsRejected(_ reader: Reader) {
        for byte in UInt8.min...UInt8.max where WireOp(rawValue: byte) == nil {
            expectRejected(Self.put(patches: [3: byte]), by: reader, because: "unknown op")
        }
    }

    @Test func onlyHelloAndAuthBeforeAuthentication() {
        for op in WireOp.allCases where !op.isHandshake {
            expectRejected(Self.header(op), by: .hostBeforeAuth, because: "\(op) before authentication")
        }
        expectRejected(Self.put(), by: .hostBeforeAuth, because: "PUT before authentication")
    }

    @Test func handshakePayloadOver128BytesIsRejected() {
        for op in [WireOp.hello, .auth] {
            for length: UInt32 in [129, 4096, .max] {
                expectRejected(
                    Self.header(op, length: length, checksum: 1), by: .hostBeforeAuth, because: "before authentication")
            }
            var limit = Self.header(op, length: 128, checksum: 1)
            expectNil(&limit, .hostBeforeAuth)
        }
    }

    @Test(arguments: [Reader.hostAfterAuth, .client])
    func payloadOverAPageIsRejected(_ reader: Reader) {
        for length: UInt32 in [4097, 65536, .max] {
            expectRejected(Self.put(length: length), by: reader, because: "\(length)-byte PUT")
        }
        var page = Self.put(length: 4096)
        expectNil(&page, reader)
        let small = FrameParser(direction: .toHost, authenticated: true, pageSize: 1024)
        var over = Self.put(length: 1025)
        #expect(throws: WireProtocolError.self) { try small.parse(&over) }
    }

    @Test(arguments: [Reader.hostAfterAuth, .client])
    func batchOfZeroOrOverSixtyFourEntriesIsRejected(_ reader: Reader) {
        for count: UInt16 in [0, 65, .max] {
            expectRejected(Self.batch(count: count), by: reader, because: "a BATCH of \(count) entries")
        }
        var full = Self.batch(count: 64)
        expectNil(&full, reader)
    }

    @Test(arguments: [Reader.hostAfterAuth, .client])
    func batchWithAPayloadIsRejected(_ reader: Reader) {
        expectRejected(Self.batch(length: 1, checksum: 1), by: reader, because: "a BATCH with a payload")
        expectRejected(Self.batch(length: 4096, checksum: 1), by: reader, because: "a BATCH with a payload")
        expectRejected(Self.batch(checksum: 1), by: reader, because: "a BATCH with a payload")
    }

    @Test func countOnAnotherOpIsRejected() {
        expectRejected(Self.put(count: 1), by: .hostAfterAuth, because: "a count on PUT")
        expectRejected(Self.put(count: 1), by: .client, because: "a count on PUT")
    }

    @Test(arguments: [Reader.hostAfterAuth, .client])
    func unbatchableEntryOpIsRejected(_ reader: Reader) {
        for byte in UInt8.min...UInt8.max where !(WireOp(rawValue: byte)?.isBatchable ?? false) {
            let bad = entryHeaderBytes(op: byte, length: 4096, checksum: 1)
            expectRejected(Self.batch(entries: [bad]), by: reader, because: "in a BATCH")
            expectRejected(Self.batch(entries: [Self.goodEntry, bad]), by: reader, because: "in a BATCH")
        }
    }

    @Test(arguments: [Reader.hostAfterAuth, .client])
    func entryOverAPageIsRejected(_ reader: Reader) {
        for length: UInt32 in [4097, .max] {
            let bad = entryHeaderBytes(op: WireOp.put.rawValue, length: length, checksum: 1)
            expectRejected(Self.batch(entries: [bad]), by: reader, because: "\(length)-byte BATCH entry")
            expectRejected(
                Self.batch(entries: [Self.goodEntry, bad]), by: reader, because: "\(length)-byte BATCH entry")
        }
        var page = Self.batch(entries: [entryHeaderBytes(op: WireOp.put.rawValue, length: 4096, checksum: 1)])
        expectNil(&page, reader)
    }

    @Test(arguments: [WireOp.hello, .auth])
    func disallowedFlagsBeforeAuthenticationAreRejected(_ op: WireOp) {
        for bit in everyFlagBit where !op.allowedRequestFlags.contains(bit) {
            expectRejected(Self.header(op, flags: bit, length: 32, checksum: 1), by: .hostBeforeAuth, because: "flags")
        }
    }

    @Test(arguments: authenticatedRequestOps)
    func disallowedFlagsOnARequestAreRejected(_ op: WireOp) {
        for bit in everyFlagBit where !op.allowedRequestFlags.contains(bit) {
            let bytes =
                op == .batch
                ? Self.batch(count: 1).withFlags(bit) : Self.header(op, flags: bit, length: 100, checksum: 1)
            expectRejected(bytes, by: .hostAfterAuth, because: "flags 0x\(String(bit.rawValue, radix: 16)) on \(op)")
        }
        // And every allowed combination passes the header's checks.
        for raw in UInt8.min...UInt8.max where WireFlags(rawValue: raw).isSubset(of: op.allowedRequestFlags) {
            var bytes =
                op == .batch
                ? Self.batch(count: 1).withFlags(WireFlags(rawValue: raw))
                : Self.header(op, flags: WireFlags(rawValue: raw), length: 100, checksum: 1)
            expectNil(&bytes, .hostAfterAuth)
        }
    }

    @Test(arguments: [Reader.hostAfterAuth, .client])
    func disallowedFlagsOnABatchEntryAreRejected(_ reader: Reader) {
        for (op, bit) in [(WireOp.put, WireFlags.quiet), (.get, .more), (.flushPage, .compressed), (.put, .join)] {
            let bad = entryHeaderBytes(op: op.rawValue, flags: bit.rawValue, length: 10, checksum: 1)
            expectRejected(Self.batch(entries: [Self.goodEntry, bad]), by: reader, because: "on a BATCH entry")
        }
    }

    @Test func reservedFlagsOnAReplyAreRejected() {
        for bit: UInt8 in [1 << 5, 1 << 6] {
            expectRejected(Self.put(WireFlags(rawValue: bit)), by: .client, because: "reserved flags")
        }
    }

    @Test func statusInARequestIsRejected() {
        expectRejected(Self.put(status: .miss), by: .hostAfterAuth, because: "a status in a request")
        expectRejected(
            Self.header(.hello, status: .authFailed, length: 10, checksum: 1), by: .hostBeforeAuth,
            because: "a status in a request")
        let entry = entryHeaderBytes(op: WireOp.put.rawValue, status: 0x10, length: 4096, checksum: 1)
        expectRejected(
            Self.batch(entries: [Self.goodEntry, entry]), by: .hostAfterAuth,
            because: "a status in a request's BATCH entry")
        var reply = Self.put(status: .refusedCapacity)
        expectNil(&reply, .client)
    }

    @Test(arguments: [Reader.hostAfterAuth, .client])
    func reservedEntryByteIsRejected(_ reader: Reader) {
        let entry = entryHeaderBytes(op: WireOp.put.rawValue, reserved: 1, length: 4096, checksum: 1)
        expectRejected(Self.batch(entries: [entry]), by: reader, because: "a reserved byte set")
    }

    @Test(arguments: Reader.allCases)
    func checksumWithoutAPayloadIsRejected(_ reader: Reader) {
        let op: WireOp = reader == .hostBeforeAuth ? .auth : .get
        expectRejected(Self.header(op, length: 0, checksum: 1), by: reader, because: "a checksum without a payload")
        guard reader != .hostBeforeAuth else { return }
        let entry = entryHeaderBytes(op: WireOp.get.rawValue, length: 0, checksum: 1)
        expectRejected(Self.batch(entries: [entry]), by: reader, because: "a checksum without a payload")
    }

    @Test func handshakeAfterAuthenticationIsRejected() {
        for op in [WireOp.hello, .auth, .challenge, .welcome, .shrink, .goAway] {
            expectRejected(
                Self.header(op, length: 32, checksum: 1), by: .hostAfterAuth,
                because: "\(op) from an authenticated client")
        }
        for op in [WireOp.hello, .auth] {
            expectRejected(Self.header(op, length: 32, checksum: 1), by: .client, because: "\(op) from the host")
        }
    }
}

extension ByteBuffer {
    /// The same bytes with the header's flags byte replaced.
    func withFlags(_ flags: WireFlags) -> ByteBuffer {
        var copy = self
        copy.setInteger(flags.rawValue, at: readerIndex + 4)
        return copy
    }
}

/// Expects `reader` to throw a ``WireProtocolError`` whose reason contains `reason` on `bytes` (only
/// headers: a parser that waited for the payload instead would return nil).
func expectRejected(
    _ bytes: ByteBuffer, by reader: Reader, because reason: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    var buffer = bytes
    do {
        let frame = try reader.parser.parse(&buffer)
        Issue.record(
            "\(reader) returned \(frame.map { "\($0.header)" } ?? "nil"), not '\(reason)'",
            sourceLocation: sourceLocation)
    } catch {
        #expect(error.reason.contains(reason), "\(reader): '\(error.reason)'", sourceLocation: sourceLocation)
    }
}

/// Expects `reader` to wait for more bytes, consuming none.
func expectNil(_ bytes: inout ByteBuffer, _ reader: Reader, sourceLocation: SourceLocation = #_sourceLocation) {
    let before = bytes.readableBytes
    do {
        let frame = try reader.parser.parse(&bytes)
        #expect(frame == nil, "\(reader)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("\(reader) threw '\(error.reason)'", sourceLocation: sourceLocation)
    }
    #expect(bytes.readableBytes == before, sourceLocation: sourceLocation)
}
