import NIOCore
import Tmem
import TmemWire

/// The largest legal frame of version 1: a header and a BATCH of 64 whole pages. No receiver should
/// ever hold more than this many bytes of one frame.
let largestLegalFrame = Wire.headerSize + Wire.maxBatchEntries * (Wire.entryHeaderSize + Wire.pageSize)

/// The three kinds of reader a connection has: the host before and after AUTH, and a client.
enum Reader: String, CaseIterable, CustomStringConvertible {
    case hostBeforeAuth
    case hostAfterAuth
    case client

    var parser: FrameParser {
        switch self {
        case .hostBeforeAuth: FrameParser(direction: .toHost)
        case .hostAfterAuth: FrameParser(direction: .toHost, authenticated: true)
        case .client: FrameParser(direction: .toClient)
        }
    }

    /// The most payload one frame may carry for this reader.
    var maxPayload: Int { self == .hostBeforeAuth ? Wire.maxHandshakePayload : Wire.pageSize }

    var description: String { rawValue }
}

/// Bytes from `rng`.
func randomBytes(_ count: Int, using rng: inout some RandomNumberGenerator) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: count)
    var i = 0
    while i < count {
        var word = rng.next()
        for _ in 0..<min(8, count - i) {
            bytes[i] = UInt8(truncatingIfNeeded: word)
            word >>= 8
            i += 1
        }
    }
    return bytes
}

/// A page whose bytes all differ from a neighbour's (`seed` picks which).
func page(_ seed: UInt8, count: Int = Wire.pageSize) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
}

extension ByteBuffer {
    init(bytes: [UInt8]) {
        self.init()
        writeBytes(bytes)
    }
}

extension Frame {
    /// The frame a parser returns for `header` and `payload`: length and checksum set as on the wire.
    static func single(_ header: FrameHeader, payload: [UInt8] = []) -> Frame {
        var header = header
        header.length = UInt32(payload.count)
        header.checksum = payload.withUnsafeBytes { payload.isEmpty ? 0 : tmem32($0) }
        return Frame(header: header, payload: ByteBuffer(bytes: payload))
    }

    /// The BATCH a parser returns for `header` and `entries`: count set, length and checksum 0.
    static func batch(_ header: FrameHeader, _ entries: [BatchEntry]) -> Frame {
        var header = header
        header.op = .batch
        header.count = UInt16(entries.count)
        header.length = 0
        header.checksum = 0
        return Frame(header: header, entries: entries)
    }

    /// The frame's bytes on the wire.
    var encoded: ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeFrame(self)
        return buffer
    }

    /// Bytes the frame takes on the wire.
    var wireSize: Int {
        header.op == .batch
            ? Wire.headerSize + entries.reduce(0) { $0 + Wire.entryHeaderSize + $1.payload.readableBytes }
            : Wire.headerSize + payload.readableBytes
    }
}

/// A header's 36 bytes as `writeFrameHeader` puts them, then `patches` (offset: byte) written over them,
/// to reach what `FrameHeader` cannot say: a bad magic, another version, an unknown op.
func headerBytes(_ header: FrameHeader, patches: [Int: UInt8] = [:]) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writeFrameHeader(header)
    for (offset, byte) in patches { buffer.setInteger(byte, at: offset) }
    return buffer
}

/// A BATCH entry's 24-byte header with the given fields, no payload after it.
func entryHeaderBytes(
    op: UInt8, flags: UInt8 = 0, status: UInt8 = 0, reserved: UInt8 = 0, length: UInt32 = 0, checksum: UInt32 = 0
) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writeInteger(op)
    buffer.writeInteger(flags)
    buffer.writeInteger(status)
    buffer.writeInteger(reserved)
    buffer.writeInteger(UInt32(7), endianness: .little)
    buffer.writeInteger(UInt64(3), endianness: .little)
    buffer.writeInteger(length, endianness: .little)
    buffer.writeInteger(checksum, endianness: .little)
    return buffer
}

/// Every request op a host accepts once the session is authenticated.
let authenticatedRequestOps: [WireOp] = WireOp.allCases.filter {
    !$0.isHandshake && ![.challenge, .welcome, .shrink, .goAway].contains($0)
}

/// Every single flag bit.
let everyFlagBit: [WireFlags] = (0..<8).map { WireFlags(rawValue: 1 << $0) }

/// The flags of `allowed` that `rng` picks.
func randomSubset(of allowed: WireFlags, using rng: inout some RandomNumberGenerator) -> WireFlags {
    WireFlags(rawValue: allowed.rawValue & UInt8(truncatingIfNeeded: rng.next()))
}
