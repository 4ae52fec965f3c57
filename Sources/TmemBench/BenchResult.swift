/// Latency percentiles of one phase, in nanoseconds per operation.
public struct Latency: Sendable, Equatable {
    /// The median.
    public var p50: UInt64
    /// The 99th percentile.
    public var p99: UInt64
    /// The 99.9th percentile.
    public var p999: UInt64
    /// Creates percentiles (nanoseconds).
    public init(p50: UInt64 = 0, p99: UInt64 = 0, p999: UInt64 = 0) {
        self.p50 = p50
        self.p99 = p99
        self.p999 = p999
    }
}

/// One timed pass over every page: a store, a sequential load or a random-order load.
public struct PhaseResult: Sendable, Equatable {
    /// Pages handled.
    public var pages: Int
    /// Wall-clock seconds for all threads together.
    public var seconds: Double
    /// Per-operation latency.
    public var latency: Latency

    /// Pages per second over the whole phase.
    public var pagesPerSecond: Double { seconds > 0 ? Double(pages) / seconds : 0 }
    /// Megabytes (10^6 bytes) of page data per second.
    public var megabytesPerSecond: Double { pagesPerSecond * 4096 / 1e6 }

    /// Creates a phase's result.
    public init(pages: Int, seconds: Double, latency: Latency) {
        self.pages = pages
        self.seconds = seconds
        self.latency = latency
    }
}

/// What one system (Tmem's Zcache, the kernel's zram, or raw compression) did with the corpus.
public struct SystemResult: Sendable, Equatable {
    /// "tmem", "zram" or "raw".
    public var name: String
    /// What it ran, for people ("zcache lz4", "zram lz4 (kernel)", "liblz4").
    public var label: String
    /// Storing every page.
    public var store: PhaseResult
    /// Loading every page in index order.
    public var loadSequential: PhaseResult
    /// Loading every page in a seeded random order.
    public var loadRandom: PhaseResult
    /// Original bytes over memory used (for raw: over the sum of compressed sizes).
    public var ratio: Double
    /// Memory holding the compressed pages (zram/zswap `mem_used_total`; raw: sum of compressed sizes).
    public var memUsedTotal: Int
    /// Metadata bytes per stored page outside that memory (zram: its 16-byte slot table entry per slot).
    public var metadataBytesPerPage: Double
    /// Pages whose bytes did not come back exactly (must be 0).
    public var mismatches: Int

    /// Creates a system's result.
    public init(
        name: String, label: String, store: PhaseResult, loadSequential: PhaseResult, loadRandom: PhaseResult,
        ratio: Double, memUsedTotal: Int, metadataBytesPerPage: Double, mismatches: Int
    ) {
        self.name = name
        self.label = label
        self.store = store
        self.loadSequential = loadSequential
        self.loadRandom = loadRandom
        self.ratio = ratio
        self.memUsedTotal = memUsedTotal
        self.metadataBytesPerPage = metadataBytesPerPage
        self.mismatches = mismatches
    }

    /// The figures `--json` prints for this system, in a fixed order.
    public var jsonFields: [(String, Double)] {
        [
            ("store_pages_per_s", store.pagesPerSecond), ("load_seq_pages_per_s", loadSequential.pagesPerSecond),
            ("load_rand_pages_per_s", loadRandom.pagesPerSecond), ("store_mb_per_s", store.megabytesPerSecond),
            ("load_seq_mb_per_s", loadSequential.megabytesPerSecond),
            ("load_rand_mb_per_s", loadRandom.megabytesPerSecond), ("ratio", ratio),
            ("mem_used_total", Double(memUsedTotal)), ("metadata_bytes_per_page", metadataBytesPerPage),
            ("pages", Double(store.pages)), ("mismatches", Double(mismatches)),
            ("store_p50_ns", Double(store.latency.p50)), ("store_p99_ns", Double(store.latency.p99)),
            ("store_p999_ns", Double(store.latency.p999)),
            ("load_seq_p50_ns", Double(loadSequential.latency.p50)),
            ("load_seq_p99_ns", Double(loadSequential.latency.p99)),
            ("load_seq_p999_ns", Double(loadSequential.latency.p999)),
            ("load_rand_p50_ns", Double(loadRandom.latency.p50)), ("load_rand_p99_ns", Double(loadRandom.latency.p99)),
            ("load_rand_p999_ns", Double(loadRandom.latency.p999)),
        ]
    }
}
