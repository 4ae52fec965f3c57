/// Zcache's counters, under the names the kernel's zswap debugfs and zram `mm_stat` use.
public struct ZcacheStatistics: Sendable, Equatable {
    /// Pages held now (zswap `stored_pages`).
    public var storedPages = 0
    /// Held pages that are one repeated 8-byte word, zero pages included, kept with no pool memory
    /// (zswap `same_filled_pages`).
    public var sameFilledPages = 0
    /// Held pages stored uncompressed because they compress poorly (zram `huge_pages`).
    public var hugePages = 0
    /// Bytes of spans held from the OS (zswap `pool_total_size`).
    public var poolTotalSize = 0
    /// Original bytes of the held pages (zram `orig_data_size`).
    public var origDataSize = 0
    /// Bytes of the held compressed objects, checksums included (zram `compr_data_size`).
    public var comprDataSize = 0
    /// Memory the pool uses now: span bytes from the OS (zram `mem_used_total`).
    public var memUsedTotal = 0
    /// The most ``memUsedTotal`` has been (zram `mem_used_max`).
    public var memUsedMax = 0
    /// Bytes of per-page metadata outside the spans: the page tables, their index, span descriptors.
    public var metadataBytes = 0
    /// The byte limit on ``memUsedTotal`` plus ``metadataBytes`` (zram `mem_limit`).
    public var memLimit = 0
    /// Stores refused because the pool was at its limit or above its accept threshold
    /// (zswap `pool_limit_hit`).
    public var poolLimitHit = 0
    /// Stores refused because the page compressed poorly (zswap `reject_compress_poor`).
    public var rejectCompressPoor = 0
    /// Stores refused because the allocator had no room (zswap `reject_alloc_fail`).
    public var rejectAllocFail = 0
    /// Stores refused because the pool did not exist.
    public var rejectNoSuchPool = 0
    /// Pages repatriated to a backing device at the backend's request or by shrink
    /// (zswap `written_back_pages`).
    public var writtenBackPages = 0
    /// Stores over a key already held, replacing it (zswap `duplicate_entry`).
    public var duplicateEntry = 0
    /// Loads that found a damaged object and reported an error instead of data.
    public var corruptObjects = 0
    /// Puts refused because their object was flushed while they were in flight.
    public var rejectInvalidated = 0
    /// Ephemeral pages dropped to make room (`evicted_pages`).
    public var evictedPages = 0
    /// Pages held now without an object of their own, because their bytes are a copy another key of an
    /// ephemeral pool stored: over every shared copy, its keys less one (`deduplicated_pages`; 0 without
    /// ``ZcacheConfiguration/deduplicateEphemeral``). A gauge: it falls as keys of shared copies go.
    public var deduplicatedPages = 0
    /// Puts that found their bytes already stored and took a reference to that copy, since the Zcache
    /// was made (`deduplicated_puts`, Xen tmem's "deduped puts"). A put that replaced its own key's equal
    /// page counts too, and so does one refused after the look-up (its pool destroyed, its object flushed,
    /// the limit reached), which gives the reference back.
    public var deduplicatedPuts = 0
    /// Stored bytes those ``deduplicatedPages`` would take with copies of their own: the memory
    /// deduplication saves now, before size-class rounding and less nothing for the index (whose records
    /// are in ``metadataBytes``) (`dedup_saved_bytes`). ``comprDataSize`` counts every key's bytes in
    /// full; `compr_data_size − dedup_saved_bytes` is what the objects hold.
    public var dedupSavedBytes = 0

    /// Creates zeroed statistics.
    public init() {}

    /// Metadata bytes per held page (0 when empty).
    public var metadataBytesPerPage: Double {
        storedPages == 0 ? 0 : Double(metadataBytes) / Double(storedPages)
    }

    /// Original bytes over pool bytes (0 when the pool is empty).
    public var compressionRatio: Double {
        memUsedTotal == 0 ? (storedPages > 0 ? Double.infinity : 0) : Double(origDataSize) / Double(memUsedTotal)
    }

    /// Every counter as `name value` pairs, with the kernel's names, in a fixed order.
    public var namedValues: [(String, Int)] {
        [
            ("stored_pages", storedPages), ("same_filled_pages", sameFilledPages), ("huge_pages", hugePages),
            ("pool_total_size", poolTotalSize), ("orig_data_size", origDataSize),
            ("compr_data_size", comprDataSize), ("mem_used_total", memUsedTotal), ("mem_used_max", memUsedMax),
            ("metadata_bytes", metadataBytes), ("mem_limit", memLimit), ("pool_limit_hit", poolLimitHit),
            ("reject_compress_poor", rejectCompressPoor), ("reject_alloc_fail", rejectAllocFail),
            ("written_back_pages", writtenBackPages), ("duplicate_entry", duplicateEntry),
            ("corrupt_objects", corruptObjects), ("reject_no_such_pool", rejectNoSuchPool),
            ("reject_invalidated", rejectInvalidated), ("evicted_pages", evictedPages),
            ("deduplicated_pages", deduplicatedPages), ("deduplicated_puts", deduplicatedPuts),
            ("dedup_saved_bytes", dedupSavedBytes),
        ]
    }

    public static func == (a: Self, b: Self) -> Bool { a.namedValues.elementsEqual(b.namedValues) { $0 == $1 } }
}
