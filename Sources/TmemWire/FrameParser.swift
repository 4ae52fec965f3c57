import NIOCore

/// A frame that breaks the protocol: the receiver logs ``reason`` and closes the connection.
public struct WireProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Why the bytes are not a valid frame, for logs.
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// Which side reads the frames: the host reads requests, a client reads replies and notices.
public enum WireDirection: Sendable {
    case toHost
    case toClient
}

/// Cuts frames out of received bytes, checking every limit of docs/PROTOCOL.md from the headers
/// before any payload is waited for, so a hostile peer cannot make the receiver buffer more than one
/// frame (at most a BATCH of 64 pages).
///
/// Pure: no I/O, no allocation beyond a BATCH's entry array; payloads are slices of the input buffer.
public struct FrameParser: Sendable {
    /// Whose frames these are.
    public let direction: WireDirection
    /// Host side: whether the session is authenticated (before, only HELLO and AUTH are accepted, in
    /// frames of at most ``Wire/maxHandshakePayload`` bytes).
    public var authenticated: Bool
    /// The most payload of one frame or entry once authenticated.
    public let pageSize: Int

    public init(direction: WireDirection, authenticated: Bool = false, pageSize: Int = Wire.pageSize) {
        self.direction = direction
        self.authenticated = direction == .toClient || authenticated
        self.pageSize = pageSize
    }

    /// Takes the next whole frame off the front of `buffer`.
    ///
    /// - Returns: The frame, or nil when `buffer` does not hold a whole one yet (nothing is consumed).
    /// - Throws: ``WireProtocolError`` as soon as a header (or a BATCH entry's header) breaks a rule,
    ///   whatever follows it.
    public func parse(_ buffer: inout ByteBuffer) throws(WireProtocolError) -> Frame? {
        guard buffer.readableBytes >= Wire.headerSize else {
            if buffer.readableBytes >= 2, buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt16.self) != Wire.magic {
                throw WireProtocolError("bad magic")
            }
            return nil
        }
        let header = try checkedHeader(at: buffer.readerIndex, in: buffer)
        if header.op == .batch {
            return try parseBatch(header, &buffer)
        }
        let total = Wire.headerSize + Int(header.length)
        guard buffer.readableBytes >= total else { return nil }
        buffer.moveReaderIndex(forwardBy: Wire.headerSize)
        let payload = buffer.readSlice(length: Int(header.length))!
        return Frame(header: header, payload: payload)
    }

    private func parseBatch(_ header: FrameHeader, _ buffer: inout ByteBuffer) throws(WireProtocolError) -> Frame? {
        // First pass: check every entry header present, and find out whether the whole batch is here.
        var offset = buffer.readerIndex + Wire.headerSize
        let end = buffer.readerIndex + buffer.readableBytes
        for _ in 0..<header.count {
            guard end - offset >= Wire.entryHeaderSize else { return nil }
            let length = try checkedEntryLength(at: offset, in: buffer)
            offset += Wire.entryHeaderSize + length
            guard offset <= end else { return nil }
        }
        buffer.moveReaderIndex(forwardBy: Wire.headerSize)
        var entries: [BatchEntry] = []
        entries.reserveCapacity(Int(header.count))
        for _ in 0..<header.count {
            let at = buffer.readerIndex
            let length = Int(buffer.getInteger(at: at + 16, endianness: .little, as: UInt32.self)!)
            let entry = BatchEntry(
                op: WireOp(rawValue: buffer.getInteger(at: at, as: UInt8.self)!)!,
                flags: WireFlags(rawValue: buffer.getInteger(at: at + 1, as: UInt8.self)!),
                status: WireStatus(rawValue: buffer.getInteger(at: at + 2, as: UInt8.self)!),
                index: buffer.getInteger(at: at + 4, endianness: .little, as: UInt32.self)!,
                object: buffer.getInteger(at: at + 8, endianness: .little, as: UInt64.self)!,
                payload: buffer.getSlice(at: at + Wire.entryHeaderSize, length: length)!,
                checksum: buffer.getInteger(at: at + 20, endianness: .little, as: UInt32.self)!)
            entries.append(entry)
            buffer.moveReaderIndex(forwardBy: Wire.entryHeaderSize + length)
        }
        return Frame(header: header, entries: entries)
    }

    /// Reads and checks the header at `at`.
    private func checkedHeader(at: Int, in buffer: ByteBuffer) throws(WireProtocolError) -> FrameHeader {
        guard buffer.getInteger(at: at, endianness: .little, as: UInt16.self) == Wire.magic else {
            throw WireProtocolError("bad magic")
        }
        let version = buffer.getInteger(at: at + 2, as: UInt8.self)!
        guard version == Wire.version else { throw WireProtocolError("unsupported version \(version)") }
        let opByte = buffer.getInteger(at: at + 3, as: UInt8.self)!
        guard let op = WireOp(rawValue: opByte) else {
            throw WireProtocolError("unknown op 0x\(String(opByte, radix: 16))")
        }
        let header = FrameHeader(
            op: op,
            flags: WireFlags(rawValue: buffer.getInteger(at: at + 4, as: UInt8.self)!),
            status: WireStatus(rawValue: buffer.getInteger(at: at + 5, as: UInt8.self)!),
            count: buffer.getInteger(at: at + 6, endianness: .little, as: UInt16.self)!,
            requestID: buffer.getInteger(at: at + 8, endianness: .little, as: UInt32.self)!,
            pool: buffer.getInteger(at: at + 12, endianness: .little, as: UInt32.self)!,
            object: buffer.getInteger(at: at + 16, endianness: .little, as: UInt64.self)!,
            index: buffer.getInteger(at: at + 24, endianness: .little, as: UInt32.self)!,
            length: buffer.getInteger(at: at + 28, endianness: .little, as: UInt32.self)!,
            checksum: buffer.getInteger(at: at + 32, endianness: .little, as: UInt32.self)!)
        try check(header)
        return header
    }

    private func check(_ header: FrameHeader) throws(WireProtocolError) {
        let op = header.op
        switch direction {
        case .toHost:
            if !authenticated {
                guard op.isHandshake else { throw WireProtocolError("\(op) before authentication") }
                guard header.length <= Wire.maxHandshakePayload else {
                    throw WireProtocolError("a \(header.length)-byte \(op) before authentication")
                }
            } else if op.isHandshake || [.challenge, .welcome, .shrink, .goAway].contains(op) {
                throw WireProtocolError("\(op) from an authenticated client")
            }
            guard header.flags.isSubset(of: op.allowedRequestFlags) else {
                throw WireProtocolError("flags 0x\(String(header.flags.rawValue, radix: 16)) on \(op)")
            }
            guard header.status == .ok else { throw WireProtocolError("a status in a request") }
        case .toClient:
            guard !op.isHandshake else { throw WireProtocolError("\(op) from the host") }
            guard header.flags.rawValue & 0b0110_0000 == 0 else {
                throw WireProtocolError("reserved flags 0x\(String(header.flags.rawValue, radix: 16)) on \(op)")
            }
        }
        if op == .batch {
            guard (1...UInt16(Wire.maxBatchEntries)).contains(header.count) else {
                throw WireProtocolError("a BATCH of \(header.count) entries")
            }
            guard header.length == 0, header.checksum == 0 else { throw WireProtocolError("a BATCH with a payload") }
            return
        }
        guard header.count == 0 else { throw WireProtocolError("a count on \(op)") }
        guard header.length <= pageSize else { throw WireProtocolError("a \(header.length)-byte \(op)") }
        guard header.length > 0 || header.checksum == 0 else { throw WireProtocolError("a checksum without a payload") }
    }

    /// Checks the BATCH entry header at `at`, returning its payload length.
    private func checkedEntryLength(at: Int, in buffer: ByteBuffer) throws(WireProtocolError) -> Int {
        let opByte = buffer.getInteger(at: at, as: UInt8.self)!
        guard let op = WireOp(rawValue: opByte), op.isBatchable else {
            throw WireProtocolError("op 0x\(String(opByte, radix: 16)) in a BATCH")
        }
        let flags = WireFlags(rawValue: buffer.getInteger(at: at + 1, as: UInt8.self)!)
        guard flags.isSubset(of: op.allowedRequestFlags.intersection(.compressed)) else {
            throw WireProtocolError("flags 0x\(String(flags.rawValue, radix: 16)) on a BATCH entry")
        }
        guard direction == .toClient || buffer.getInteger(at: at + 2, as: UInt8.self) == 0 else {
            throw WireProtocolError("a status in a request's BATCH entry")
        }
        guard buffer.getInteger(at: at + 3, as: UInt8.self) == 0 else { throw WireProtocolError("a reserved byte set") }
        let length = buffer.getInteger(at: at + 16, endianness: .little, as: UInt32.self)!
        guard length <= pageSize else { throw WireProtocolError("a \(length)-byte BATCH entry") }
        guard length > 0 || buffer.getInteger(at: at + 20, endianness: .little, as: UInt32.self) == 0 else {
            throw WireProtocolError("a checksum without a payload")
        }
        return Int(length)
    }
}

/// ``FrameParser`` as a SwiftNIO decoder (for clients, and for checking the parser byte by byte).
public struct FrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = Frame
    public var parser: FrameParser

    public init(parser: FrameParser) { self.parser = parser }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try parser.parse(&buffer) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
