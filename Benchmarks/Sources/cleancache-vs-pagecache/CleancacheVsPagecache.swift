// cleancache-vs-pagecache: SQLite point lookups on a database of at least 1 GiB at one memory budget
// (default 256 MiB), twice, each run in a cgroup v1 memory cgroup limited to the budget:
//   pagecache: the default VFS; the kernel's page cache (charged to the cgroup) does the caching;
//   tmem:      the tmem VFS; Zcache ephemeral cleancache sized to the budget (less the process's own
//              memory), O_DIRECT reads of the file.
// Both runs use SQLite's default page cache (2 MiB), the same seeded queries (uniform, then Zipf), and
// start with the kernel's page cache of the file dropped. Every row returned is checked; both runs must
// return the same rows. The last line is one JSON object.
import ArgumentParser
import BenchProcess
import Tmem
import TmemSQLite
import TmemSQLiteWorkload
#if canImport(Glibc)
import Glibc
#endif

@main
struct CleancacheVsPagecache: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cleancache-vs-pagecache",
        abstract: "SQLite lookups at one memory budget: the kernel's page cache vs the tmem VFS over cleancache (as root).",
        subcommands: [Compare.self, Latency.self, Dedup.self, SideChild.self],
        defaultSubcommand: Compare.self
    )
}

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "compare")

    @Option(help: "Database to use (made when missing, kept); default: a temporary one, deleted after.") var db: String?
    @Option(name: .customLong("size-mib"), help: "Database size to build, in MiB.") var sizeMiB: Int = 1024
    @Option(name: .customLong("budget-mib"), help: "Memory budget of each run, in MiB.") var budgetMiB: Int = 256
    @Option(help: "Uniform lookups before measuring (fill the caches).") var warmup: Int = 150_000
    @Option(help: "Measured lookups per distribution.") var queries: Int = 100_000
    @Option(help: "Directory for a temporary database.") var directory: String = "/var/tmp"
    @Option var seed: UInt64 = 2026
    @Option(help: "The tmem side's compressor: lz4 or zstd.") var compressor: String = "lz4"
    @Option(name: .customLong("slack-mib"), help: "Budget the tmem side leaves besides its process and cache, in MiB.") var slackMiB: Int = 8

    func run() throws {
        guard geteuid() == 0 else { throw BenchError("run as root: each side runs in a cgroup v1 memory cgroup") }
        guard access("/sys/fs/cgroup/memory/cgroup.procs", W_OK) == 0 else {
            throw BenchError("no cgroup v1 memory controller at /sys/fs/cgroup/memory")
        }
        let path = db ?? "\(directory)/tmem-cleancache-bench-\(getpid()).db"
        defer { if db == nil { unlink(path); unlink(path + "-journal") } }
        let rows = try prepare(path)
        let budget = budgetMiB << 20
        var sides: [SideReport] = []
        for side in BenchSide.allCases {
            let cgroup = "/sys/fs/cgroup/memory/tmem-cleancache-bench-\(getpid())-\(side.rawValue)"
            guard mkdir(cgroup, 0o755) == 0 else { throw BenchError("cannot make \(cgroup): \(String(cString: strerror(errno)))") }
            defer { rmdir(cgroup) }
            try writeFile("\(cgroup)/memory.limit_in_bytes", "\(budget)")
            try? writeFile("\(cgroup)/memory.swappiness", "0")
            try KernelIO.dropPageCache(path)
            print("\(side.rawValue): running in \(cgroup) at \(budgetMiB) MiB...")
            let output = try runCommand(CommandLine.arguments[0], [
                "side", side.rawValue, path, "--rows", "\(rows)", "--budget", "\(budget)", "--warmup", "\(warmup)",
                "--queries", "\(queries)", "--seed", "\(seed)", "--cgroup", cgroup,
                "--compressor", compressor, "--slack", "\(slackMiB << 20)",
            ], capture: true)
            guard let line = output.split(separator: "\n").last, let report = SideReport(line: String(line)) else {
                throw BenchError("the \(side.rawValue) child printed no result: \(output)")
            }
            var withPeak = report
            withPeak.cgroupPeakBytes = Int(readText("\(cgroup)/memory.max_usage_in_bytes") ?? "") ?? 0
            sides.append(withPeak)
            print(withPeak.summary)
        }
        let (pagecache, tmem) = (sides[0], sides[1])
        let differing = zip(pagecache.phases, tmem.phases).filter { $0.checksum != $1.checksum }.count
        let mismatches = sides.reduce(0) { $0 + $1.phases.reduce(0) { $0 + $1.mismatches } } + differing
        for (p, t) in zip(pagecache.phases, tmem.phases) {
            print("\(p.name): tmem/pagecache queries/s \(ratio(t.qps, p.qps))x, disk bytes \(ratio(Double(t.readBytes), Double(p.readBytes)))x, "
                + "hit ratio \(percent(t.hitRatio)) vs \(percent(p.hitRatio)), results \(p.checksum == t.checksum ? "identical" : "DIFFER")")
        }
        let (pu, tu, pz, tz) = (pagecache.phases[0], tmem.phases[0], pagecache.phases[1], tmem.phases[1])
        print("{\"db_bytes\": \(KernelIO.fileBytes(path)), \"rows\": \(rows), \"budget_bytes\": \(budget), "
            + "\"pagecache_qps\": \(Int(pu.qps)), \"tmem_qps\": \(Int(tu.qps)), \"qps_ratio\": \(ratio(tu.qps, pu.qps)), "
            + "\"pagecache_read_bytes\": \(pu.readBytes), \"tmem_read_bytes\": \(tu.readBytes), "
            + "\"read_bytes_ratio\": \(ratio(Double(tu.readBytes), Double(pu.readBytes))), "
            + "\"pagecache_hit_ratio\": \(rounded(pu.hitRatio)), \"tmem_hit_ratio\": \(rounded(tu.hitRatio)), "
            + "\"zipf_pagecache_qps\": \(Int(pz.qps)), \"zipf_tmem_qps\": \(Int(tz.qps)), "
            + "\"zipf_pagecache_read_bytes\": \(pz.readBytes), \"zipf_tmem_read_bytes\": \(tz.readBytes), "
            + "\"zipf_tmem_hit_ratio\": \(rounded(tz.hitRatio)), \"zipf_pagecache_hit_ratio\": \(rounded(pz.hitRatio)), "
            + "\"pagecache_cgroup_peak_bytes\": \(pagecache.cgroupPeakBytes), \"tmem_cgroup_peak_bytes\": \(tmem.cgroupPeakBytes), "
            + "\"tmem_cleancache_bytes\": \(tmem.cacheBytes), \"tmem_cleancache_pages\": \(tmem.cachePages), "
            + "\"tmem_compression_ratio\": \(rounded(tmem.compressionRatio)), \"mismatches\": \(mismatches)}")
        if mismatches > 0 { throw ExitCode(1) }
    }

    /// Builds the database unless `path` holds one already; returns its row count.
    private func prepare(_ path: String) throws -> Int {
        if access(path, R_OK) == 0 {
            let rows = try SQLiteDatabase(path: path, readOnly: true).query("SELECT max(id) + 1 FROM items")
            guard case .integer(let n)? = rows.first?.first else { throw BenchError("\(path) has no items table") }
            print("using \(path): \(n) rows, \(KernelIO.fileBytes(path) >> 20) MiB")
            return Int(n)
        }
        let rows = (sizeMiB << 20) / 300
        print("building \(path): \(rows) rows...")
        let start = monotonicNanoseconds()
        try ItemRows.build(path, count: rows)
        print("built \(KernelIO.fileBytes(path) >> 20) MiB in \(Double(monotonicNanoseconds() - start) / 1e9) s")
        return rows
    }
}

func readText(_ path: String) -> String? {
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    var buffer = [CChar](repeating: 0, count: 256)
    guard fgets(&buffer, 256, file) != nil else { return nil }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).trimmingWhitespace()
}

extension String {
    func trimmingWhitespace() -> String { String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed()) }
}

func rounded(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }
func ratio(_ a: Double, _ b: Double) -> Double { b > 0 ? rounded(a / b) : 0 }
func percent(_ value: Double) -> String { "\((value * 1000).rounded() / 10)%" }
