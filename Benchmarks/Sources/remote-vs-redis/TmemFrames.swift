// remote-vs-redis: tmem wire protocol v1 frames, encoded by hand from docs/PROTOCOL.md (not with the
// project's TmemWire module, so the benchmark also checks that the document is enough to write a client).
import Crypto
import Tmem

/// Operation codes (docs/PROTOCOL.md, "Ops").
enum TmemOp: UInt8 {
    case hello = 0x01, challenge = 0x02, auth = 0x03, welcome = 0x04
    case createPool = 0x10, destroyPool = 0x11, put = 0x12, get = 0x13
    case flushPage = 0x14, flushObject = 0x15, batch = 0x16, barrier = 0x17, ping = 0x18, stats = 0x19
    case configure = 0x1A
    case shrink = 0x30, goAway = 0x31
}

/// Flag bits (docs/PROTOCOL.md, "Flags").
enum TmemFlag {
    static let compressed: UInt8 = 1 << 0
    static let more: UInt8 = 1 << 1
    static let ephemeral: UInt8 = 1 << 2
    static let shared: UInt8 = 1 << 3
    static let join: UInt8 = 1 << 4
    static let quiet: UInt8 = 1 << 7
}

/// Reply statuses (docs/PROTOCOL.md, "Status"); the raw byte stays available for ones this list lacks.
enum TmemStatus {
    static let ok: UInt8 = 0x00
    static let miss: UInt8 = 0x01

    /// The protocol document's name of a status byte, for error messages.
    static func name(_ status: UInt8) -> String {
        switch status {
        case 0x00: "ok"
        case 0x01: "miss"
        case 0x10: "refused capacity"
        case 0x11: "refused cap"
        case 0x12: "refused share"
        case 0x13: "refused shrinking"
        case 0x14: "refused invalidated"
        case 0x15: "refused incompressible"
        case 0x16: "no such pool"
        case 0x17: "refused"
        case 0x20: "damaged"
        case 0x21: "unavailable"
        case 0x30: "bad request"
        case 0x31: "checksum mismatch"
        case 0x32: "not allowed"
        case 0x33: "too many pools"
        case 0x34: "auth failed"
        default: "status 0x" + String(status, radix: 16)
        }
    }
}

/// The fixed 36-byte frame header; all integers little-endian.
///
/// | offset | size | field |            | offset | size | field |
/// |-------:|-----:|-------|------------|-------:|-----:|-------|
/// | 0 | 2 | magic 0x6D74 ("tm") |       | 12 | 4 | pool |
/// | 2 | 1 | version 1 |                 | 16 | 8 | object |
/// | 3 | 1 | op |                        | 24 | 4 | index |
/// | 4 | 1 | flags |                     | 28 | 4 | length |
/// | 5 | 1 | status |                    | 32 | 4 | checksum (tmem32 of the payload; 0 when empty) |
/// | 6 | 2 | count (BATCH) |             |    |   |  |
/// | 8 | 4 | request id |                |    |   |  |
struct FrameHeader: Equatable {
    static let size = 36
    static let magic: UInt16 = 0x6D74
    static let version: UInt8 = 1

    var op: UInt8
    var flags: UInt8 = 0
    var status: UInt8 = 0
    var count: UInt16 = 0
    var requestID: UInt32 = 0
    var pool: UInt32 = 0
    var object: UInt64 = 0
    var index: UInt32 = 0
    var length: UInt32 = 0
    var checksum: UInt32 = 0

    init(
        op: TmemOp, flags: UInt8 = 0, requestID: UInt32 = 0, pool: UInt32 = 0, object: UInt64 = 0, index: UInt32 = 0
    ) {
        self.op = op.rawValue
        self.flags = flags
        self.requestID = requestID
        self.pool = pool
        self.object = object
        self.index = index
    }

    /// Sets `length` and `checksum` for `payload`, as every sender must.
    mutating func describe(payload: UnsafeRawBufferPointer) {
        length = UInt32(payload.count)
        checksum = payload.isEmpty ? 0 : tmem32(payload)
    }

    /// Writes the header into the first 36 bytes of `out`.
    func encode(into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= Self.size, "a frame header needs 36 bytes")
        out.storeBytes(of: Self.magic.littleEndian, toByteOffset: 0, as: UInt16.self)
        out[2] = Self.version
        out[3] = op
        out[4] = flags
        out[5] = status
        out.storeBytes(of: count.littleEndian, toByteOffset: 6, as: UInt16.self)
        out.storeBytes(of: requestID.littleEndian, toByteOffset: 8, as: UInt32.self)
        out.storeBytes(of: pool.littleEndian, toByteOffset: 12, as: UInt32.self)
        out.storeBytes(of: object.littleEndian, toByteOffset: 16, as: UInt64.self)
        out.storeBytes(of: index.littleEndian, toByteOffset: 24, as: UInt32.self)
        out.storeBytes(of: length.littleEndian, toByteOffset: 28, as: UInt32.self)
        out.storeBytes(of: checksum.littleEndian, toByteOffset: 32, as: UInt32.self)
    }

    /// Reads a header from the first 36 bytes of `bytes`.
    ///
    /// - Throws: `BenchError` on a wrong magic or version: the stream is not (or no longer) tmem v1.
    init(decoding bytes: UnsafeRawBufferPointer) throws {
        precondition(bytes.count >= Self.size, "a frame header needs 36 bytes")
        let magic = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt16.self))
        guard magic == Self.magic, bytes[2] == Self.version else {
            throw BenchError(
                "tmemd sent a frame with magic 0x\(String(magic, radix: 16)) version \(bytes[2]) "
                    + "(expected 0x6d74 version 1): not tmem v1, or the stream lost its framing")
        }
        op = bytes[3]
        flags = bytes[4]
        status = bytes[5]
        count = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 6, as: UInt16.self))
        requestID = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        pool = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
        object = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        index = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 24, as: UInt32.self))
        length = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 28, as: UInt32.self))
        checksum = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 32, as: UInt32.self))
    }

    /// The op's name for messages, or its number if it is not one of v1's.
    var opName: String { TmemOp(rawValue: op).map { "\($0)" } ?? "op 0x" + String(op, radix: 16) }
}

/// The payloads of session setup (docs/PROTOCOL.md, "Sessions and authentication").
enum TmemHandshake {
    /// HELLO: name length (1 byte), name (1–64 bytes of `A-Za-z0-9._-`), then for JOIN the session's
    /// `join` bytes.
    static func helloPayload(name: String, join: [UInt8]?) -> [UInt8] {
        let nameBytes = Array(name.utf8)
        precondition((1...64).contains(nameBytes.count), "a client name has 1 to 64 bytes")
        return [UInt8(nameBytes.count)] + nameBytes + (join ?? [])
    }

    /// What CHALLENGE carries: a nonce, the host's page size, and whether a proof is required.
    struct Challenge {
        var nonce: [UInt8]
        var pageSize: UInt32
        var secretRequired: Bool

        /// - Throws: `BenchError` if the payload is shorter than 37 bytes.
        init(payload: [UInt8]) throws {
            guard payload.count >= 37 else { throw BenchError("tmemd's CHALLENGE has \(payload.count) bytes, not 37") }
            nonce = Array(payload[0..<32])
            pageSize = payload.withUnsafeBytes {
                UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 32, as: UInt32.self))
            }
            secretRequired = payload[36] != 0
        }
    }

    /// AUTH's proof on TCP: HMAC-SHA256(key: secret, message: "tmem-auth-1" ‖ nonce ‖ name ‖ join),
    /// with join empty unless the HELLO was a JOIN (then its 24 bytes: session id and token).
    static func proof(secret: [UInt8], nonce: [UInt8], name: String, join: [UInt8]?) -> [UInt8] {
        let message = Array("tmem-auth-1".utf8) + nonce + Array(name.utf8) + (join ?? [])
        return Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: secret)))
    }

    /// What WELCOME carries: session id (u64), token (16 bytes), page size (u32), most requests in flight
    /// (u32), most batch entries (u16).
    struct Welcome {
        var sessionID: UInt64
        var token: [UInt8]
        var pageSize: UInt32
        var maxInFlight: UInt32
        var maxBatch: UInt16

        /// - Throws: `BenchError` if the payload is shorter than 34 bytes.
        init(payload: [UInt8]) throws {
            guard payload.count >= 34 else { throw BenchError("tmemd's WELCOME has \(payload.count) bytes, not 34") }
            (sessionID, pageSize, maxInFlight, maxBatch) = payload.withUnsafeBytes {
                (
                    UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                    UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 24, as: UInt32.self)),
                    UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 28, as: UInt32.self)),
                    UInt16(littleEndian: $0.loadUnaligned(fromByteOffset: 32, as: UInt16.self))
                )
            }
            token = Array(payload[8..<24])
        }

        /// What a JOIN names the session by, in HELLO and in the proof: the session id (u64) and the token.
        var joinBytes: [UInt8] {
            withUnsafeBytes(of: sessionID.littleEndian) { Array($0) } + token
        }
    }
}
