/// Why a backend refused a put. A refusal is normal: the frontend falls back (frontswap writes the page to
/// the backing device; cleancache just drops it). Each reason has its own counter in every backend.
public enum RefusalReason: String, Sendable, CaseIterable, CustomStringConvertible {
    /// The backend is at its capacity (or above its accept threshold after hitting the limit).
    case capacity
    /// The pool was destroyed or never existed (frontswap: the area was invalidated and not re-initialised).
    case noSuchPool
    /// The area is disabled for stores (frontswap after `invalidate_area`, until the next `init`).
    case areaDisabled
    /// The page compresses too poorly to be worth keeping (zswap's `reject_compress_poor`).
    case compressPoor
    /// The backend could not get memory for the page (zswap's `reject_alloc_fail`).
    case allocationFailed
    /// The compressor failed (zswap's `reject_compress_fail`).
    case compressFailed
    /// The backend's policy refused it (a client's cap or weight, host memory pressure...).
    case policy
    /// The backend is unreachable (a remote host that does not answer in time).
    case unreachable

    public var description: String { rawValue }
}

/// The outcome of a put: stored, or refused with a reason. Every put may be refused; callers handle
/// both cases, and neither is an error.
public enum PutResult: Sendable, Equatable {
    /// The backend now holds exactly these bytes under the key.
    case stored
    /// The backend does not hold the page. If it held an older copy under the key, that copy is gone.
    case refused(RefusalReason)
}
