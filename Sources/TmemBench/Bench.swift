#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Tmem
import TmemCompression
import TmemReplay
import TmemZcache
import TmemZram

/// `tmem bench`: stores every page of a corpus, loads them all back in sequential and in random order,
/// verifying every byte, and measures Tmem's Zcache, and optionally the kernel's zram and the raw
/// compressor on the same pages in the same run.
public final class Bench {
    /// What to run.
    public struct Options: Sendable {
        /// The compressor of Zcache, zram and the raw baseline.
        public var compressor: CompressionAlgorithm
        /// zstd level or LZ4 acceleration (nil: default).
        public var level: Int?
        /// Threads working at once; each takes a contiguous share of the pages.
        public var threads: Int
        /// Seed of the random load order.
        public var seed: UInt64
        /// Draw a progress bar when standard error is a terminal.
        public var showProgress: Bool
        /// Each phase runs this many times and the fastest round is reported.
        public var rounds: Int

        /// Creates options.
        public init(compressor: CompressionAlgorithm = .lz4, level: Int? = nil, threads: Int = 1, seed: UInt64 = 1,
                    showProgress: Bool = true, rounds: Int = 3) {
            self.compressor = compressor
            self.level = level
            self.threads = threads
            self.seed = seed
            self.showProgress = showProgress
            self.rounds = rounds
        }
    }

    let corpus: PageCorpus
    let options: Options
    let sequential: [Int]
    let random: [Int]
    let runner: PhaseRunner
    /// Zcache's counters after the store phase of ``runTmem()``.
    public private(set) var zcacheStatistics = ZcacheStatistics()

    /// Prepares a benchmark over a corpus (the random order is drawn here, once, from the seed).
    public init(corpus: PageCorpus, options: Options) {
        precondition(options.threads >= 1, "at least one thread")
        self.corpus = corpus
        self.options = options
        sequential = Array(0..<corpus.pageCount)
        var rng = SeededGenerator(seed: options.seed)
        random = sequential.shuffled(using: &rng)
        runner = PhaseRunner(
            threads: options.threads, rounds: max(options.rounds, 1), progress: options.showProgress ? .ifTerminal() : nil)
    }

    /// Tmem's Zcache, used directly through the ``Backend`` API (one persistent pool, key = page index),
    /// with a limit large enough to hold every page.
    public func runTmem() throws -> SystemResult {
        let zcache = try Zcache(configuration: .init(
            compressor: options.compressor, level: options.level, limit: 4 * corpus.pageCount * pageSize + (64 << 20)))
        let pool = Mutex(try zcache.createPool(.persistent))
        let corpus = self.corpus
        @Sendable func key(_ i: Int) -> Key {
            Key(pool: pool.withLock { $0 }, object: ObjectID(rawValue: 0), index: PageIndex(rawValue: UInt32(i)))
        }
        var fresh = true
        let (store, refused) = try runner.best("tmem store", order: sequential, prepare: {
            // Each round stores into an empty pool.
            if !fresh { try pool.withLock { zcache.destroyPool($0); $0 = try zcache.createPool(.persistent) } }
            fresh = false
        }) { _, i in
            zcache.put(key(i), page: corpus.page(i)) == .stored
        }
        guard refused == 0 else { throw TmemError.unavailable("zcache refused \(refused) pages with room to spare") }
        let stats = zcache.statistics
        zcacheStatistics = stats
        let (seq, rand, bad) = try loadPhases("tmem load") { buffer, i in try zcache.get(key(i), into: buffer) }
        return SystemResult(
            name: "tmem", label: "zcache \(options.compressor)", store: store, loadSequential: seq, loadRandom: rand,
            ratio: Double(stats.origDataSize) / Double(max(stats.memUsedTotal, 1)), memUsedTotal: stats.memUsedTotal,
            metadataBytesPerPage: stats.metadataBytesPerPage, mismatches: bad)
    }

    /// The same pages through a zram device of its own (hot_add), with 4 KiB O_DIRECT writes and reads.
    ///
    /// - Throws: ``BenchUnavailable`` when zram cannot be used here (not root, no zram, no such
    ///   compressor in the kernel), with the reason.
    public func runZram() throws -> SystemResult {
        if case .unavailable(let reason) = ZramDevice.availability() { throw BenchUnavailable(reason) }
        let algorithm: String
        switch options.compressor {
        case .lz4: algorithm = "lz4"
        case .zstd: algorithm = "zstd"
        case .none: throw BenchUnavailable("zram has no 'none' compressor")
        }
        let device: ZramDevice
        do {
            device = try ZramDevice(algorithm: algorithm, diskSize: corpus.pageCount * pageSize)
        } catch {
            throw BenchUnavailable("cannot make a zram device with \(algorithm): \(error.message)")
        }
        defer { device.remove() }
        let fd = try device.openForDirectIO()
        defer { device.closeDescriptor(fd) }
        let corpus = self.corpus
        let (store, _) = try runner.best("zram write", order: sequential) { _, i in
            try device.write(page: corpus.page(i), at: i, fd: fd)
            return true
        }
        let stats = try device.stats()
        let (seq, rand, bad) = try loadPhases("zram read") { buffer, i in
            try device.read(into: buffer, at: i, fd: fd)
            return true
        }
        return SystemResult(
            name: "zram", label: "zram \(algorithm) (kernel)", store: store, loadSequential: seq, loadRandom: rand,
            ratio: Double(stats.origDataSize) / Double(max(stats.memUsedTotal, 1)), memUsedTotal: stats.memUsedTotal,
            metadataBytesPerPage: 16, mismatches: bad)
    }

    /// The compressor alone: each page compressed into a scratch buffer and decompressed back, the
    /// limit per core that any page store built on it can approach.
    public func runRaw() throws -> SystemResult {
        let threads = options.threads
        let compressed = CompressedCorpus(pages: corpus.pageCount)
        let corpus = self.corpus
        let compressors = try CompressorPool(algorithm: options.compressor, level: options.level, count: threads)
        let (store, _) = try runner.best("raw compress", order: sequential) { _, i in
            compressed.compress(corpus.page(i), slot: i, with: compressors)
            return true
        }
        let (seq, rand, bad) = try loadPhases("raw decompress") { buffer, i in
            try compressed.decompress(slot: i, into: buffer, with: compressors)
            return true
        }
        let total = compressed.totalBytes
        return SystemResult(
            name: "raw", label: "\(options.compressor) alone", store: store, loadSequential: seq, loadRandom: rand,
            ratio: Double(corpus.pageCount * pageSize) / Double(max(total, 1)), memUsedTotal: total,
            metadataBytesPerPage: 0, mismatches: bad)
    }
}

extension Bench {
    /// Runs the sequential and the random load phase: `read(buffer, page)` fills the thread's buffer
    /// with a page (false: not found), which is then checked byte for byte against the corpus.
    ///
    /// - Returns: Both phases' best rounds and the pages that did not come back exactly.
    func loadPhases(
        _ name: String, _ read: @escaping @Sendable (UnsafeMutableRawBufferPointer, Int) throws -> Bool
    ) throws -> (PhaseResult, PhaseResult, Int) {
        let corpus = self.corpus
        let buffers = PageBuffers(count: options.threads)
        let load: @Sendable (Int, Int) throws -> Bool = { t, i in
            let buffer = buffers[t]
            guard try read(buffer, i) else { return false }
            return memcmp(buffer.baseAddress!, corpus.page(i).baseAddress!, pageSize) == 0
        }
        let (seq, bad1) = try runner.best("\(name) sequential", order: sequential, load)
        let (rand, bad2) = try runner.best("\(name) random", order: random, load)
        return (seq, rand, bad1 + bad2)
    }
}

/// Why a baseline could not run here.
public struct BenchUnavailable: Error, CustomStringConvertible {
    /// Why, in words.
    public let reason: String
    init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
