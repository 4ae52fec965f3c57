#if canImport(Glibc)
import Glibc
#endif
import Tmem
import TmemZcache

/// What one run of ``Bench/runDeduplication(copies:deduplicate:)`` measured.
public struct DedupResult: Sendable {
    /// Times the corpus was put, each copy under its own object (two copies: two files of equal bytes).
    public var copies: Int
    /// Whether Zcache deduplicated the ephemeral pool's pages.
    public var deduplicate: Bool
    /// The fastest round of putting every copy.
    public var store: PhaseResult
    /// Zcache's counters after that round's puts.
    public var statistics: ZcacheStatistics
    /// The memory the limit counts (spans, page tables, object records, the deduplication index).
    public var footprintBytes: Int
    /// Pages that did not come back exactly (or did not come back: the limit is set so none is evicted).
    public var mismatches: Int
}

extension Bench {
    /// Puts every page of the corpus `copies` times into one ephemeral pool of a Zcache, copy c under
    /// object c (the same file twice, or two files of equal bytes, as cleancache would see them), with
    /// deduplication on or off; then gets every page of every copy back and checks it byte for byte.
    ///
    /// The limit holds every copy without eviction, so every get must hit. Each round starts from a new
    /// Zcache; the fastest round's puts are reported, with the counters and memory after them.
    ///
    /// - Parameters:
    ///   - copies: 1 or more.
    ///   - deduplicate: ``ZcacheConfiguration/deduplicateEphemeral``.
    /// - Returns: Throughput, memory, counters, mismatches.
    /// - Throws: ``TmemError`` when a Zcache cannot be made, or it refuses a put with room to spare.
    public func runDeduplication(copies: Int, deduplicate: Bool) throws -> DedupResult {
        precondition(copies >= 1, "at least one copy")
        let count = corpus.pageCount
        let corpus = self.corpus
        let limit = 4 * copies * count * pageSize + (64 << 20)
        let configuration = ZcacheConfiguration(
            compressor: options.compressor, level: options.level, limit: limit, deduplicateEphemeral: deduplicate)
        @Sendable func key(_ pool: PoolID, _ i: Int) -> Key {
            Key(pool: pool, object: ObjectID(rawValue: UInt64(i / count)), index: PageIndex(rawValue: UInt32(i % count)))
        }
        var best: (PhaseResult, ZcacheStatistics, Int)?
        var mismatches = 0
        for round in 1...max(options.rounds, 1) {
            let zcache = try Zcache(configuration: configuration)
            let pool = try zcache.createPool(.ephemeral)
            let label = "\(deduplicate ? "dedup" : "plain") ×\(copies) \(round)/\(options.rounds)"
            let (store, refused) = try runner.run(label, order: Array(0..<(copies * count))) { _, i in
                zcache.put(key(pool, i), page: corpus.page(i % count)) == .stored
            }
            guard refused == 0 else { throw TmemError.unavailable("zcache refused \(refused) pages with room to spare") }
            if best == nil || store.seconds < best!.0.seconds { best = (store, zcache.statistics, zcache.footprintBytes) }
            let buffers = PageBuffers(count: options.threads)
            let (_, bad) = try runner.run("\(label) verify", order: Array(0..<(copies * count))) { t, i in
                let buffer = buffers[t]
                guard try zcache.get(key(pool, i), into: buffer) else { return false }
                return memcmp(buffer.baseAddress!, corpus.page(i % count).baseAddress!, pageSize) == 0
            }
            mismatches += bad
            zcache.destroyPool(pool)
        }
        let (store, statistics, footprint) = best!
        return DedupResult(
            copies: copies, deduplicate: deduplicate, store: store, statistics: statistics, footprintBytes: footprint,
            mismatches: mismatches)
    }
}

extension BenchReport {
    /// The deduplication table: one column per run (copies, deduplication off or on), one row per figure.
    ///
    /// - Parameter results: The runs, in the order to show them.
    /// - Returns: Lines of text.
    public static func deduplicationTable(_ results: [DedupResult]) -> [String] {
        let rows: [(String, (DedupResult) -> String)] = [
            ("copies", { "\($0.copies)" }),
            ("deduplicate", { $0.deduplicate ? "on" : "off" }),
            ("pages put", { "\($0.store.pages)" }),
            ("put pages/s", { String(Int($0.store.pagesPerSecond.rounded())) }),
            ("put p50 us", { format2(Double($0.store.latency.p50) / 1000) }),
            ("put p99 us", { format2(Double($0.store.latency.p99) / 1000) }),
            ("mem_used_total MiB", { mib(Double($0.statistics.memUsedTotal)) }),
            ("footprint MiB", { mib(Double($0.footprintBytes)) }),
            ("compr_data_size MiB", { mib(Double($0.statistics.comprDataSize)) }),
            ("deduplicated_pages", { "\($0.statistics.deduplicatedPages)" }),
            ("deduplicated_puts", { "\($0.statistics.deduplicatedPuts)" }),
            ("dedup_saved MiB", { mib(Double($0.statistics.dedupSavedBytes)) }),
            ("ratio (orig/memory)", { format2(Double($0.statistics.origDataSize) / Double(max($0.footprintBytes, 1))) }),
            ("mismatches", { "\($0.mismatches)" }),
        ]
        return rows.map { name, value in
            padded(name, 22) + results.map { padded(value($0), 14, right: true) }.joined()
        }
    }

    private static func mib(_ bytes: Double) -> String { format2(bytes / 1_048_576) }

    private static func format2(_ value: Double) -> String {
        let hundredths = Int((value * 100).rounded())
        let fraction = abs(hundredths % 100)
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }

    private static func padded(_ text: String, _ width: Int, right: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, width - text.count))
        return right ? fill + text : text + fill
    }
}
