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
    /// The object was invalidated (``Backend/flushObject(pool:object:)``) while this put was in flight:
    /// the page may predate the invalidation, so it is not kept.
    case invalidated

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

/// The outcome of one get of a batch (``Backend/getBatch(_:into:results:)``).
public enum GetResult: Sendable, Equatable {
    /// The page's bytes were copied out.
    case hit
    /// The backend does not hold the key (never put, flushed, or dropped from an ephemeral pool).
    case miss
    /// The get failed; the error's class says whether the copy is damaged, lost or just unreachable now.
    case failed(TmemError)
}

/// What a backend holds for one pool: what a host bills a client for.
public struct PoolUsage: Sendable, Equatable, CustomStringConvertible {
    /// Pages held.
    public var pages: Int
    /// Their original size: 4096 bytes per page.
    public var originalBytes: Int
    /// Bytes the backend spends on them as stored (compressed objects with their checksums; 0 for a
    /// same-filled page; 4096 for a page kept uncompressed), before allocator rounding and metadata.
    public var storedBytes: Int

    /// Creates a usage record.
    public init(pages: Int = 0, originalBytes: Int = 0, storedBytes: Int = 0) {
        self.pages = pages
        self.originalBytes = originalBytes
        self.storedBytes = storedBytes
    }

    /// Adds another record (of another shard, say) into this one.
    public mutating func add(_ other: PoolUsage) {
        pages += other.pages
        originalBytes += other.originalBytes
        storedBytes += other.storedBytes
    }

    public var description: String { "pages=\(pages) orig_bytes=\(originalBytes) stored_bytes=\(storedBytes)" }
}
