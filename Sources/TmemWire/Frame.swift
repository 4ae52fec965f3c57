import NIOCore
import Tmem

/// A frame's fixed 36-byte header (docs/PROTOCOL.md, "Frames"). All integers are little-endian on the wire.
public struct FrameHeader: Sendable, Hashable {
    public var op: WireOp
    public var flags: WireFlags
    public var status: WireStatus
    /// BATCH: its number of entries; otherwise 0.
    public var count: UInt16
    /// Chosen by the client, echoed in the reply; 0 in host notices.
    public var requestID: UInt32
    public var pool: UInt32
    public var object: UInt64
    public var index: UInt32
    /// Payload bytes that follow the header (0 for BATCH: its entries follow instead).
    public var length: UInt32
    /// ``tmem32(_:)`` of the payload; 0 when the length is 0.
    public var checksum: UInt32

    public init(
        op: WireOp, flags: WireFlags = [], status: WireStatus = .ok, count: UInt16 = 0, requestID: UInt32 = 0,
        pool: UInt32 = 0, object: UInt64 = 0, index: UInt32 = 0, length: UInt32 = 0, checksum: UInt32 = 0
    ) {
        self.op = op
        self.flags = flags
        self.status = status
        self.count = count
        self.requestID = requestID
        self.pool = pool
        self.object = object
        self.index = index
        self.length = length
        self.checksum = checksum
    }

    /// The reply's header to this request: the same op, request id, pool, object and index.
    public func reply(_ status: WireStatus, flags: WireFlags = []) -> FrameHeader {
        FrameHeader(op: op, flags: flags, status: status, requestID: requestID, pool: pool, object: object, index: index)
    }
}

/// One entry of a BATCH (docs/PROTOCOL.md, "BATCH"); it names the BATCH header's pool.
///
/// Equal entries have equal fields and equal payload bytes (`ByteBuffer` compares readable bytes, not storage).
public struct BatchEntry: Sendable, Equatable {
    public var op: WireOp
    public var flags: WireFlags
    public var status: WireStatus
    public var index: UInt32
    public var object: UInt64
    /// The entry's payload: a view into the received bytes (no copy), empty when there is none.
    public var payload: ByteBuffer
    /// The checksum the sender gave the payload (the receiver checks it: ``payloadMatchesChecksum``).
    public var checksum: UInt32

    public init(
        op: WireOp, flags: WireFlags = [], status: WireStatus = .ok, index: UInt32, object: UInt64,
        payload: ByteBuffer = ByteBuffer(), checksum: UInt32? = nil
    ) {
        self.checksum = checksum ?? (payload.readableBytes == 0 ? 0 : payload.withUnsafeReadableBytes { tmem32($0) })
        self.op = op
        self.flags = flags
        self.status = status
        self.index = index
        self.object = object
        self.payload = payload
    }

    /// True if the payload's ``tmem32(_:)`` is the entry's checksum.
    public var payloadMatchesChecksum: Bool { payload.matches(checksum: checksum) }
}

/// A decoded frame: its header, its payload and, for a BATCH, its entries. The parser checks lengths
/// and limits; the receiver checks payload checksums where it uses a payload (``payloadMatchesChecksum``).
///
/// Equal frames have equal headers, payload bytes and entries: what a decoder's tests compare.
public struct Frame: Sendable, Equatable {
    public var header: FrameHeader
    /// A view into the received bytes (no copy); empty for frames without one.
    public var payload: ByteBuffer
    /// A BATCH's entries, in order; empty otherwise.
    public var entries: [BatchEntry]

    public init(header: FrameHeader, payload: ByteBuffer = ByteBuffer(), entries: [BatchEntry] = []) {
        self.header = header
        self.payload = payload
        self.entries = entries
    }

    /// True if the payload's ``tmem32(_:)`` is the header's checksum (0 for an empty payload).
    public var payloadMatchesChecksum: Bool { payload.matches(checksum: header.checksum) }
}

extension ByteBuffer {
    /// True if the readable bytes' ``tmem32(_:)`` is `checksum` (which is 0 for no bytes).
    public func matches(checksum: UInt32) -> Bool {
        if readableBytes == 0 { return checksum == 0 }
        return withUnsafeReadableBytes { tmem32($0) } == checksum
    }

    /// Appends a frame: `header` with its `length` and `checksum` set from `payload`.
    public mutating func writeFrame(_ header: FrameHeader, payload: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)) {
        var header = header
        header.length = UInt32(payload.count)
        header.checksum = payload.isEmpty ? 0 : tmem32(payload)
        writeFrameHeader(header)
        if !payload.isEmpty { writeBytes(payload) }
    }

    /// Appends a frame whose payload is another buffer's readable bytes.
    public mutating func writeFrame(_ header: FrameHeader, payload: ByteBuffer) {
        payload.withUnsafeReadableBytes { writeFrame(header, payload: $0) }
    }

    /// Appends a header exactly as given (the caller has set `length` and `checksum`).
    public mutating func writeFrameHeader(_ header: FrameHeader) {
        writeWithUnsafeMutableBytes(minimumWritableBytes: Wire.headerSize) { out in
            out.storeBytes(of: Wire.magic.littleEndian, toByteOffset: 0, as: UInt16.self)
            out.storeBytes(of: Wire.version, toByteOffset: 2, as: UInt8.self)
            out.storeBytes(of: header.op.rawValue, toByteOffset: 3, as: UInt8.self)
            out.storeBytes(of: header.flags.rawValue, toByteOffset: 4, as: UInt8.self)
            out.storeBytes(of: header.status.rawValue, toByteOffset: 5, as: UInt8.self)
            out.storeBytes(of: header.count.littleEndian, toByteOffset: 6, as: UInt16.self)
            out.storeBytes(of: header.requestID.littleEndian, toByteOffset: 8, as: UInt32.self)
            out.storeBytes(of: header.pool.littleEndian, toByteOffset: 12, as: UInt32.self)
            out.storeBytes(of: header.object.littleEndian, toByteOffset: 16, as: UInt64.self)
            out.storeBytes(of: header.index.littleEndian, toByteOffset: 24, as: UInt32.self)
            out.storeBytes(of: header.length.littleEndian, toByteOffset: 28, as: UInt32.self)
            out.storeBytes(of: header.checksum.littleEndian, toByteOffset: 32, as: UInt32.self)
            return Wire.headerSize
        }
    }

    /// Appends one BATCH entry with its payload (a page, an LZ4 block, or nothing).
    public mutating func writeBatchEntry(
        op: WireOp, flags: WireFlags = [], status: WireStatus = .ok, object: UInt64, index: UInt32,
        payload: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
    ) {
        let checksum = payload.isEmpty ? 0 : tmem32(payload)
        writeWithUnsafeMutableBytes(minimumWritableBytes: Wire.entryHeaderSize) { out in
            out.storeBytes(of: op.rawValue, toByteOffset: 0, as: UInt8.self)
            out.storeBytes(of: flags.rawValue, toByteOffset: 1, as: UInt8.self)
            out.storeBytes(of: status.rawValue, toByteOffset: 2, as: UInt8.self)
            out.storeBytes(of: UInt8(0), toByteOffset: 3, as: UInt8.self)
            out.storeBytes(of: index.littleEndian, toByteOffset: 4, as: UInt32.self)
            out.storeBytes(of: object.littleEndian, toByteOffset: 8, as: UInt64.self)
            out.storeBytes(of: UInt32(payload.count).littleEndian, toByteOffset: 16, as: UInt32.self)
            out.storeBytes(of: checksum.littleEndian, toByteOffset: 20, as: UInt32.self)
            return Wire.entryHeaderSize
        }
        if !payload.isEmpty { writeBytes(payload) }
    }

    /// Appends a whole frame, batch entries included.
    public mutating func writeFrame(_ frame: Frame) {
        if frame.header.op != .batch {
            writeFrame(frame.header, payload: frame.payload)
            return
        }
        var header = frame.header
        header.count = UInt16(frame.entries.count)
        header.length = 0
        header.checksum = 0
        writeFrameHeader(header)
        for entry in frame.entries {
            entry.payload.withUnsafeReadableBytes {
                writeBatchEntry(
                    op: entry.op, flags: entry.flags, status: entry.status, object: entry.object, index: entry.index,
                    payload: $0)
            }
        }
    }
}
