/// The constants of the tmemd wire protocol, version 1 (docs/PROTOCOL.md): ops, flags, statuses, limits.
public enum Wire {
    /// The first two bytes of every frame (`t`, `m` little-endian).
    public static let magic: UInt16 = 0x6D74
    /// The protocol version this code speaks.
    public static let version: UInt8 = 1
    /// Bytes in a frame header.
    public static let headerSize = 36
    /// Bytes in a batch entry's header.
    public static let entryHeaderSize = 24
    /// The page size of version 1.
    public static let pageSize = 4096
    /// The most payload a frame may carry before its session is authenticated.
    public static let maxHandshakePayload = 128
    /// The most entries in one BATCH.
    public static let maxBatchEntries = 64
    /// The most requests the host reads ahead of the replies it has written on one connection.
    public static let maxInFlight = 256
}

/// An operation: the header's `op` byte.
public enum WireOp: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case hello = 0x01
    case challenge = 0x02
    case auth = 0x03
    case welcome = 0x04
    case createPool = 0x10
    case destroyPool = 0x11
    case put = 0x12
    case get = 0x13
    case flushPage = 0x14
    case flushObject = 0x15
    case batch = 0x16
    case barrier = 0x17
    case ping = 0x18
    case stats = 0x19
    case configure = 0x1A
    case usage = 0x1B
    case flushPool = 0x1C
    case shrink = 0x30
    case goAway = 0x31

    /// The ops a session may send before it is authenticated.
    public var isHandshake: Bool { self == .hello || self == .auth }
    /// The ops a BATCH entry may carry.
    public var isBatchable: Bool { self == .put || self == .get || self == .flushPage }
    /// The flags a request of this op may set (any other bit is a protocol error).
    public var allowedRequestFlags: WireFlags {
        switch self {
        case .hello: [.join]
        case .createPool: [.ephemeral, .shared]
        case .put: [.compressed, .quiet]
        case .get: [.compressed]
        case .flushPage, .flushObject, .flushPool, .destroyPool, .batch: [.quiet]
        default: []
        }
    }

    public var description: String {
        switch self {
        case .hello: "HELLO"
        case .challenge: "CHALLENGE"
        case .auth: "AUTH"
        case .welcome: "WELCOME"
        case .createPool: "CREATE_POOL"
        case .destroyPool: "DESTROY_POOL"
        case .put: "PUT"
        case .get: "GET"
        case .flushPage: "FLUSH_PAGE"
        case .flushObject: "FLUSH_OBJECT"
        case .batch: "BATCH"
        case .barrier: "BARRIER"
        case .ping: "PING"
        case .stats: "STATS"
        case .configure: "CONFIGURE"
        case .usage: "USAGE"
        case .flushPool: "FLUSH_POOL"
        case .shrink: "SHRINK"
        case .goAway: "GO_AWAY"
        }
    }
}

/// The header's `flags` byte.
public struct WireFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// PUT: the payload is an LZ4 block; GET request: the client accepts one; GET reply: it is one.
    public static let compressed = WireFlags(rawValue: 1 << 0)
    /// STATS reply: more frames follow.
    public static let more = WireFlags(rawValue: 1 << 1)
    /// CREATE_POOL: an ephemeral pool.
    public static let ephemeral = WireFlags(rawValue: 1 << 2)
    /// CREATE_POOL: a shared pool named by the payload's uuid.
    public static let shared = WireFlags(rawValue: 1 << 3)
    /// HELLO: join the session named by the payload's token.
    public static let join = WireFlags(rawValue: 1 << 4)
    /// No reply when every outcome is ok.
    public static let quiet = WireFlags(rawValue: 1 << 7)
}

/// The header's `status` byte: the outcome in a reply (0 in requests).
public struct WireStatus: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let ok = WireStatus(rawValue: 0x00)
    public static let miss = WireStatus(rawValue: 0x01)
    public static let refusedCapacity = WireStatus(rawValue: 0x10)
    public static let refusedCap = WireStatus(rawValue: 0x11)
    public static let refusedShare = WireStatus(rawValue: 0x12)
    public static let refusedShrinking = WireStatus(rawValue: 0x13)
    public static let refusedInvalidated = WireStatus(rawValue: 0x14)
    public static let refusedIncompressible = WireStatus(rawValue: 0x15)
    public static let noSuchPool = WireStatus(rawValue: 0x16)
    public static let refused = WireStatus(rawValue: 0x17)
    public static let damaged = WireStatus(rawValue: 0x20)
    public static let unavailable = WireStatus(rawValue: 0x21)
    public static let badRequest = WireStatus(rawValue: 0x30)
    public static let checksumMismatch = WireStatus(rawValue: 0x31)
    public static let notAllowed = WireStatus(rawValue: 0x32)
    public static let tooManyPools = WireStatus(rawValue: 0x33)
    public static let authFailed = WireStatus(rawValue: 0x34)

    /// True for the refusals of a put (0x10–0x17): the host holds nothing under the key afterwards.
    public var isRefusal: Bool { (0x10...0x17).contains(rawValue) }

    public var description: String {
        switch self {
        case .ok: "ok"
        case .miss: "miss"
        case .refusedCapacity: "refused: the host is full"
        case .refusedCap: "refused: the client is at its cap"
        case .refusedShare: "refused: the client is above its weighted share"
        case .refusedShrinking: "refused: the client has not yet complied with a shrink notice"
        case .refusedInvalidated: "refused: a flush of the object raced the put"
        case .refusedIncompressible: "refused: the page did not compress"
        case .noSuchPool: "no such pool"
        case .refused: "refused"
        case .damaged: "the host's copy is damaged"
        case .unavailable: "the host cannot answer now"
        case .badRequest: "bad request"
        case .checksumMismatch: "checksum mismatch"
        case .notAllowed: "not allowed"
        case .tooManyPools: "too many pools"
        case .authFailed: "authentication failed"
        default: "status 0x\(String(rawValue, radix: 16))"
        }
    }
}
