import Tmem

/// The outcome of one host operation, with the values of the wire protocol's status byte
/// (docs/PROTOCOL.md, "Status"), so the server copies it into a reply as is.
///
/// The refusals (`0x10...0x17`) are normal outcomes of a put (SEMANTICS.md: every put may be refused),
/// each counted per client in ``ClientStatistics/refusals``.
public enum HostStatus: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// Done.
    case ok = 0x00
    /// GET: the host does not hold the page.
    case miss = 0x01
    /// The host is full and no client above its share has ephemeral pages to give up.
    case refusedCapacity = 0x10
    /// The client is at its cap.
    case refusedCap = 0x11
    /// The host is full and the client is at or above its weighted share.
    case refusedShare = 0x12
    /// A persistent put from a session that has not yet complied with its shrink notice (or from any
    /// session while the host drains).
    case refusedShrinking = 0x13
    /// A flush of the object raced the put.
    case refusedInvalidated = 0x14
    /// The page did not compress well enough (only when the host refuses such pages).
    case refusedIncompressible = 0x15
    /// The pool id names no pool of this session.
    case noSuchPool = 0x16
    /// Any other refusal (the store could not allocate, say).
    case refused = 0x17
    /// The host's copy failed its integrity check: the page is lost, never returned.
    case damaged = 0x20
    /// The host cannot answer now; retry.
    case unavailable = 0x21
    /// An argument is out of range: a short page, an LZ4 block that does not expand to one page.
    case badRequest = 0x30
    /// The payload does not match its checksum (decided by the server; listed for completeness).
    case checksumMismatch = 0x31
    /// The session may not do this: a shared pool without the secret, an admin op.
    case notAllowed = 0x32
    /// The session or the host holds as many pools as it may.
    case tooManyPools = 0x33
    /// WELCOME only: the proof or the peer's credentials were refused (decided by the server).
    case authFailed = 0x34

    /// The status's name in snake case, as STATS and logs spell it (`refused_share`).
    public var name: String {
        switch self {
        case .ok: "ok"
        case .miss: "miss"
        case .refusedCapacity: "refused_capacity"
        case .refusedCap: "refused_cap"
        case .refusedShare: "refused_share"
        case .refusedShrinking: "refused_shrinking"
        case .refusedInvalidated: "refused_invalidated"
        case .refusedIncompressible: "refused_incompressible"
        case .noSuchPool: "no_such_pool"
        case .refused: "refused"
        case .damaged: "damaged"
        case .unavailable: "unavailable"
        case .badRequest: "bad_request"
        case .checksumMismatch: "checksum_mismatch"
        case .notAllowed: "not_allowed"
        case .tooManyPools: "too_many_pools"
        case .authFailed: "auth_failed"
        }
    }

    public var description: String { name }

    /// Whether the status is one of the put refusals (`0x10...0x17`).
    public var isRefusal: Bool { (0x10...0x17).contains(rawValue) }

    /// The status of a refusal by the store.
    ///
    /// - Parameter reason: Why Zcache refused the put.
    init(_ reason: RefusalReason) {
        switch reason {
        case .capacity, .allocationFailed: self = .refusedCapacity
        case .noSuchPool: self = .noSuchPool
        case .compressPoor: self = .refusedIncompressible
        case .invalidated: self = .refusedInvalidated
        case .compressFailed: self = .badRequest  // a client's LZ4 block that does not expand to one page
        case .areaDisabled, .policy, .unreachable: self = .refused
        }
    }
}

/// What ``Host/get(_:pool:object:index:into:acceptCompressed:)`` copied into the caller's buffer.
public enum HostGetResult: Sendable, Equatable {
    /// The full page (`pageSize` bytes).
    case page
    /// The page's LZ4 block, `length` bytes at the start of the buffer: only when the caller accepts
    /// compressed pages and the page is stored as a block.
    case compressed(length: Int)
    /// The host does not hold the page (never put, flushed, or dropped from an ephemeral pool).
    case miss
    /// The get failed: ``HostStatus/noSuchPool``, ``HostStatus/damaged`` or ``HostStatus/unavailable``.
    case failed(HostStatus)
}

/// A request to one session to give persistent pages back: the wire's SHRINK notice.
public struct ShrinkNotice: Sendable {
    /// The session to tell.
    public let session: Session
    /// The most persistent pages the session may keep (the SHRINK frame's `object`).
    public let targetPages: Int
    /// How long it has, from now (the SHRINK frame's `index`).
    public let deadlineMilliseconds: UInt32
}
