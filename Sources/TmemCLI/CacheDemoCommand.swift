import ArgumentParser
import Tmem
import TmemCleancache
import TmemReplay
import TmemSQLite
import TmemSQLiteWorkload
import TmemSwapFile
import TmemZcache
#if canImport(Glibc)
import Glibc
#endif

/// `tmem cache-demo`: cleancache with a real consumer, no arguments needed. A SQLite database of
/// realistic rows, several times larger than the memory budget, is queried with the same budget for
/// caching it through the default VFS (SQLite's own page cache holds the budget; the kernel's page
/// cache of the file is dropped every 64 queries, so that it does not cache beyond the budget, as a
/// memory cgroup would see to) and through the tmem VFS (a small SQLite cache, then compressed
/// cleancache at the budget, then `O_DIRECT` reads, which the kernel does not cache).
/// Every row returned is checked; per phase it prints queries/s, pages read through the VFS, cache
/// hits, disk reads and those avoided, and the memory holding the cached pages.
struct CacheDemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache-demo",
        abstract: "Query a SQLite database 4x the memory budget through the tmem VFS and the default VFS; show every phase."
    )

    @Option(help: "Memory budget for cached pages (default 24MiB).", transform: parseCapacity) var budget: Int = 24 << 20
    @Option(help: "Database size as a multiple of the budget.") var scale: Int = 4
    @Option(help: "Queries per phase (range scans: a quarter of it).") var queries: Int = 40_000
    @Option(help: "Random seed of the queries.") var seed: UInt64 = 2026
    @Option(help: "Directory for the database (default: TMPDIR, else /var/tmp).") var directory: String?

    /// SQLite's own page cache on the tmem side: small, cleancache does the caching.
    static let sqliteCacheOnTmem = 2 << 20

    func validate() throws {
        guard budget >= 4 << 20 else { throw ValidationError("the budget must be at least 4MiB") }
        guard (1...64).contains(scale) else { throw ValidationError("--scale must be 1 to 64") }
        guard queries >= 100 else { throw ValidationError("--queries must be at least 100") }
    }

    func run() throws {
        let say = LineWriter(fd: 1, flushAt: 0)
        let rows = scale * budget / ItemRows.approximateRowBytes
        let parent = directory ?? environmentValue("TMPDIR") ?? "/var/tmp"
        try checkMachineHolds(memory: 2 * budget, what: "the caches", disk: 2 * scale * budget, in: parent)
        let temporary = try TemporaryDirectory(making: "tmem-cache-demo", in: parent)
        let path = temporary.file("items.db")
        writeProgress("building \(rows) rows...")
        var clock = Stopwatch()
        try ItemRows.build(path, count: rows)
        writeProgress("")
        let size = KernelIO.fileBytes(path)
        say.writeLine("tmem cache-demo: SQLite \(SQLiteDatabase.libraryVersion), \(rows) rows with an index in "
            + "\(formatByteCount(size)) (\(String(format1(Double(size) / Double(budget))))x the budget of "
            + "\(formatByteCount(budget))), built in \(clock.lap())")

        let phases: [(String, KeyDistribution, LookupKind, Int)] = [
            ("warm-up (uniform point lookups)", .uniform, .point, queries), ("uniform point lookups", .uniform, .point, queries), ("Zipf point lookups", .zipf, .point, queries),
            ("range scans (index)", .uniform, .range, max(100, queries / 4)),
        ]
        let zipf = ZipfGenerator(n: rows)
        var results: [[LookupResult]] = []
        for side in CacheDemoSide.allCases {
            try KernelIO.dropPageCache(path)
            let context = try side.open(path, budget: budget)
            say.writeLine(context.banner)
            var sideResults: [LookupResult] = []
            var rng = SeededGenerator(seed: seed)
            for (name, distribution, kind, count) in phases {
                writeProgress("\(side): \(name)...")
                let before = context.snapshot()
                let phase = LookupPhase(rows: rows, distribution: distribution, kind: kind, zipf: zipf)
                let result = try phase.run(context.db, count: count, rng: &rng, every: side == .defaultVFS ? 64 : 0) {
                    try? KernelIO.dropPageCache(path)
                }
                writeProgress("")
                say.writeLine(context.line(name, result, since: before, file: path))
                sideResults.append(result)
            }
            results.append(sideResults)
        }
        let mismatches = results.joined().reduce(0) { $0 + $1.mismatches }
        let differing = zip(results[0], results[1]).filter { $0.checksum != $1.checksum }.count
        let speedups = zip(results[0], results[1]).dropFirst().map { format1($1.queriesPerSecond / max($0.queriesPerSecond, 1e-9)) + "x" }
        say.writeLine("tmem VFS vs default, queries/s per measured phase: \(speedups.joined(separator: ", ")); "
            + "\(mismatches) wrong results, \(differing) phases whose results differ between the two")
        say.writeLine("Benchmarks/cleancache-vs-pagecache compares the same two at one budget in memory cgroups, where "
            + "the kernel's page cache does the default VFS's caching")
        if mismatches > 0 || differing > 0 { throw ExitCode(1) }
    }
}

func format1(_ value: Double) -> String { "\((value * 10).rounded() / 10)" }
