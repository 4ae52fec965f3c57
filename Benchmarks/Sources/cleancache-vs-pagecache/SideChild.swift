import ArgumentParser
import BenchProcess
import Tmem
import TmemCleancache
import TmemCompression
import TmemSQLite
import TmemSQLiteWorkload
import TmemZcache
#if canImport(Glibc)
import Glibc
#endif

enum BenchSide: String, CaseIterable, ExpressibleByArgument {
    case pagecache, tmem
}

/// One measured phase of a side, as the child reports it.
struct PhaseFigures {
    var name: String
    var qps: Double
    var readBytes: Int
    var pagerMisses: Int
    var mismatches: Int
    var checksum: UInt64

    /// Page reads past SQLite's cache that did not go to the disk.
    var hitRatio: Double { pagerMisses > 0 ? max(0, 1 - Double(readBytes) / Double(pagerMisses * pageSize)) : 0 }

    var line: String { "\(name) \(qps) \(readBytes) \(pagerMisses) \(mismatches) \(checksum)" }
}

/// A side's figures: its phases and its memory.
struct SideReport {
    var side: String
    var phases: [PhaseFigures]
    var cacheBytes: Int
    var cachePages: Int
    var compressionRatio: Double
    var residentBytes: Int
    var cgroupPeakBytes = 0

    /// One line: `side cacheBytes cachePages ratio rss | phase... | phase...`.
    var line: String { "\(side) \(cacheBytes) \(cachePages) \(compressionRatio) \(residentBytes) | " + phases.map(\.line).joined(separator: " | ") }

    init(side: String, phases: [PhaseFigures], cacheBytes: Int, cachePages: Int, compressionRatio: Double, residentBytes: Int) {
        (self.side, self.phases, self.cacheBytes, self.cachePages, self.compressionRatio, self.residentBytes) =
            (side, phases, cacheBytes, cachePages, compressionRatio, residentBytes)
    }

    init?(line: String) {
        let parts = line.split(separator: "|").map { $0.split(separator: " ").map(String.init) }
        guard parts.count >= 2, parts[0].count == 5, let cb = Int(parts[0][1]), let cp = Int(parts[0][2]),
            let r = Double(parts[0][3]), let rss = Int(parts[0][4])
        else { return nil }
        var phases: [PhaseFigures] = []
        for p in parts.dropFirst() {
            guard p.count == 6, let q = Double(p[1]), let rb = Int(p[2]), let pm = Int(p[3]), let m = Int(p[4]), let c = UInt64(p[5]) else { return nil }
            phases.append(PhaseFigures(name: p[0], qps: q, readBytes: rb, pagerMisses: pm, mismatches: m, checksum: c))
        }
        self.init(side: parts[0][0], phases: phases, cacheBytes: cb, cachePages: cp, compressionRatio: r, residentBytes: rss)
    }

    var summary: String {
        var text = "\(side): resident \(residentBytes >> 20) MiB, cgroup peak \(cgroupPeakBytes >> 20) MiB"
        if side == BenchSide.tmem.rawValue {
            text += ", cleancache \(cacheBytes >> 20) MiB holding \(cachePages) pages (\(rounded(compressionRatio))x)"
        }
        for p in phases {
            text += "\n  \(p.name): \(Int(p.qps)) queries/s, \(p.readBytes >> 20) MiB read from disk, \(p.pagerMisses) page reads past "
                + "SQLite's cache, hit ratio \(percent(p.hitRatio)), \(p.mismatches) wrong"
        }
        return text
    }
}

/// The child: joins its cgroup, opens the database through its side's VFS, warms the caches with
/// uniform lookups, then measures uniform and Zipf lookups; prints one ``SideReport`` line.
struct SideChild: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "side", shouldDisplay: false)

    @Argument var side: BenchSide
    @Argument var path: String
    @Option var rows: Int
    @Option var budget: Int
    @Option var warmup: Int
    @Option var queries: Int
    @Option var seed: UInt64
    @Option var cgroup: String
    @Option var compressor: String = "lz4"
    @Option var slack: Int = SideChild.slackBytes

    /// Room left in the budget besides the cache itself: SQLite's page cache, the in-process pages, the
    /// allocator's slack, the kernel's page cache of the few buffered reads (the header's counter).
    static let slackBytes = 8 << 20

    func run() throws {
        try writeFile("\(cgroup)/cgroup.procs", "\(getpid())")
        var zcache: Zcache?
        var vfs: TmemVFS?
        let db: SQLiteDatabase
        switch side {
        case .pagecache:
            db = try SQLiteDatabase(path: path, readOnly: true)
        case .tmem:
            let limit = budget - residentBytes() - slack
            guard limit > 16 << 20 else { throw BenchError("a budget of \(budget >> 20) MiB leaves no room for a cache") }
            guard let algorithm = CompressionAlgorithm(rawValue: compressor) else { throw BenchError("unknown compressor \(compressor)") }
            let cache = try Zcache(configuration: .init(compressor: algorithm, limit: limit))
            let cleancache = Cleancache(backend: cache)
            let tmem = try TmemVFS(name: "tmem", cleancache: cleancache, pool: try cleancache.initFS())
            db = try SQLiteDatabase(path: path, vfs: "tmem", readOnly: true)
            (zcache, vfs) = (cache, tmem)
        }
        _ = vfs
        let zipf = ZipfGenerator(n: rows)
        var rng = SeededGenerator(seed: seed)
        _ = try LookupPhase(rows: rows, distribution: .uniform).run(db, count: warmup, rng: &rng)
        var phases: [PhaseFigures] = []
        for distribution in KeyDistribution.allCases {
            if distribution == .zipf { _ = try LookupPhase(rows: rows, distribution: .zipf, zipf: zipf).run(db, count: warmup / 3, rng: &rng) }
            let before = KernelIO.readBytes() ?? 0
            let result = try LookupPhase(rows: rows, distribution: distribution, zipf: zipf).run(db, count: queries, rng: &rng)
            let read = (KernelIO.readBytes() ?? 0) - before
            phases.append(PhaseFigures(name: distribution.rawValue, qps: result.queriesPerSecond, readBytes: read,
                                       pagerMisses: result.pagerMisses, mismatches: result.mismatches, checksum: result.checksum))
        }
        let s = zcache?.statistics
        if let s {
            // On stderr, which the parent passes through: where the budget went.
            var line = "tmem side: zcache limit \(s.memLimit >> 20) MiB; spans \(s.memUsedTotal >> 20) MiB, metadata \(s.metadataBytes >> 20) MiB, "
            line += "compressed objects \(s.comprDataSize >> 20) MiB; \(s.storedPages) pages; \(s.evictedPages) evicted, "
            line += "\(s.poolLimitHit) puts refused at the limit; process resident \(residentBytes() >> 20) MiB\n"
            _ = line.withCString { write(2, $0, strlen($0)) }
        }
        let report = SideReport(side: side.rawValue, phases: phases, cacheBytes: s?.memUsedTotal ?? (KernelIO.residentBytes(path) ?? 0),
                                cachePages: s?.storedPages ?? 0, compressionRatio: s?.compressionRatio ?? 1, residentBytes: residentBytes())
        print(report.line)
    }
}

/// VmRSS of this process.
func residentBytes() -> Int { KernelIO.residentBytes() ?? 0 }
