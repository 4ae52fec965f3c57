import TmemCompression

/// How a ``Zcache`` compresses and how much memory it may use.
public struct ZcacheConfiguration: Sendable {
    /// What to do with a page that does not compress below ``poorCompressionThreshold``.
    public enum PoorCompressionPolicy: String, Sendable, CaseIterable {
        /// Keep it uncompressed, as zram does with "huge" pages (counted in `huge_pages`).
        case storeUncompressed
        /// Refuse it (`reject_compress_poor`), as zswap does: it goes to the swap device.
        case refuse
    }

    /// The compressor (LZ4 by default, as zram and zswap default to on most distributions).
    public var compressor: CompressionAlgorithm
    /// The zstd level or LZ4 acceleration; nil for the compressor's default.
    public var level: Int?
    /// The most memory the pool may hold, in bytes: spans from the OS plus per-page metadata.
    /// Changeable while running with ``Zcache/setCapacity(_:)``.
    public var limit: Int
    /// After hitting ``limit``, refuse stores until usage falls to this percent of it (zswap's
    /// `accept_threshold_percent`, default 90): without the gap, a full pool flaps between accepting
    /// and refusing on every page.
    public var acceptThresholdPercent: Int
    /// Past this percent of ``limit`` the pool asks its frontends to repatriate cold persistent pages
    /// (``Zcache/writebackWanted``), down to ``acceptThresholdPercent``: its reclaimer then works ahead of
    /// the limit, so stores are refused only when reclaim cannot keep up. 95 by default: half way between
    /// the accept threshold and the limit.
    public var writebackHighPercent: Int
    /// A page whose compressed form is longer than this many bytes compresses poorly. 3072 (3/4 of a
    /// page, zram's huge-class boundary): past it, compression saves too little to pay for itself.
    public var poorCompressionThreshold: Int
    /// What happens to poorly compressing pages.
    public var poorCompressionPolicy: PoorCompressionPolicy
    /// Verify a 32-bit checksum of every compressed object on load, so a damaged object is reported as
    /// an error, never returned as a page (LZ4 and zstd blocks carry no checksum of their own). Costs 4
    /// bytes of pool memory per page and about 0.1 µs per store and load.
    public var checksums: Bool
    /// Store identical pages of ephemeral pools once (Xen tmem's page deduplication): a put whose bytes
    /// equal a page already stored under another key, in any ephemeral pool of this Zcache, takes a
    /// reference to that copy instead of a new object (``ZcacheStatistics/deduplicatedPages``). Off by
    /// default. Persistent pages are never shared. Costs a 64-bit hash per ephemeral put (about 0.3 µs),
    /// a decompression and compare when the hash names a stored page, and about 64 bytes of index
    /// metadata per distinct stored ephemeral page; saves a whole object per duplicate.
    ///
    /// Each key is charged its page's full stored bytes on its pools' meters, shared or not, so a
    /// client's usage never depends on what other clients hold; only the real memory (the limit,
    /// ``Zcache/footprintBytes``) counts a shared copy once. The caveat: a put that finds a twin is
    /// faster than one that does not, so a client can time whether some pool of the same Zcache holds a
    /// page (the side channel Xen's deduplication had); a host whose clients must not learn that about
    /// each other leaves this off.
    public var deduplicateEphemeral: Bool

    /// Creates a configuration.
    ///
    /// - Parameters:
    ///   - compressor: LZ4, zstd or none.
    ///   - level: zstd level or LZ4 acceleration; nil for the default.
    ///   - limit: Byte limit on pool memory plus metadata.
    ///   - acceptThresholdPercent: 1...100.
    ///   - writebackHighPercent: acceptThresholdPercent...100.
    ///   - poorCompressionThreshold: 1...4095 bytes.
    ///   - poorCompressionPolicy: Store poorly compressing pages uncompressed, or refuse them.
    ///   - checksums: Checksum compressed objects.
    ///   - deduplicateEphemeral: Store identical ephemeral pages once.
    public init(
        compressor: CompressionAlgorithm = .lz4, level: Int? = nil, limit: Int,
        acceptThresholdPercent: Int = 90, writebackHighPercent: Int = 95, poorCompressionThreshold: Int = 3072,
        poorCompressionPolicy: PoorCompressionPolicy = .storeUncompressed, checksums: Bool = true,
        deduplicateEphemeral: Bool = false
    ) {
        self.compressor = compressor
        self.level = level
        self.limit = limit
        self.acceptThresholdPercent = acceptThresholdPercent
        self.writebackHighPercent = writebackHighPercent
        self.poorCompressionThreshold = poorCompressionThreshold
        self.poorCompressionPolicy = poorCompressionPolicy
        self.checksums = checksums
        self.deduplicateEphemeral = deduplicateEphemeral
    }

    /// A limit given as a percent of the machine's RAM, like zswap's `max_pool_percent`.
    ///
    /// - Parameters:
    ///   - percent: 1...100.
    ///   - physicalMemory: The machine's RAM in bytes (see ``physicalMemoryBytes()``).
    /// - Returns: The byte limit.
    public static func limit(percentOfRAM percent: Int, physicalMemory: Int) -> Int {
        physicalMemory / 100 * percent
    }
}

#if canImport(Glibc)
import Glibc

/// The machine's physical memory in bytes (`sysconf(_SC_PHYS_PAGES) * page size`).
public func physicalMemoryBytes() -> Int {
    sysconf(Int32(_SC_PHYS_PAGES)) * sysconf(Int32(_SC_PAGESIZE))
}
#endif
