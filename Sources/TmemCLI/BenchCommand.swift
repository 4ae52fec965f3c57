import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import TmemBench
import TmemCompression
import Tmem
import TmemReplay
import TmemZcache

/// `tmem bench`: Tmem's Zcache against the kernel's zram and the raw compressor, on the same pages.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Store a corpus into Zcache, load it back (sequential, random), verify, and compare with zram.",
        discussion: """
            --vs zram makes its own zram device (hot_add), never touching one in use, and removes it after;
            it needs root. --vs raw measures the compressor alone: the limit per core.
            --dedup measures deduplication of ephemeral pages instead: the corpus put once and twice (two
            files of equal bytes) into an ephemeral pool, deduplication off and on; pool memory,
            deduplicated pages, memory saved and put throughput, every page read back and checked.
            """
    )

    enum Baseline: String, ExpressibleByArgument, CaseIterable { case zram, raw }

    @Option(help: "A file of 4096-byte pages (raw or .zst).") var corpus: String
    @Option(help: "The compressor: lz4, zstd or none.") var compressor: CompressionAlgorithm = .lz4
    @Option(parsing: .unconditional, help: "zstd level or LZ4 acceleration (negative: zstd's fast levels).", transform: parseLevel)
    var level: Int?
    @Option(help: "Threads storing and loading at once.") var threads = 1
    @Option(name: .customLong("vs"), help: "Also measure a baseline: zram, raw (repeatable).") var baselines: [Baseline] = []
    @Flag(help: "Print one JSON object with every figure instead of the table.") var json = false
    @Flag(help: "Measure deduplication of ephemeral pages (corpus put once and twice, off and on) instead.")
    var dedup = false
    @Option(help: "Seed of the random load order.") var seed: UInt64 = 1
    @Option(help: "Runs of each phase; the fastest is reported.") var rounds = 3

    func validate() throws {
        guard (1...64).contains(threads) else { throw ValidationError("threads must be 1...64") }
        guard (1...100).contains(rounds) else { throw ValidationError("rounds must be 1...100") }
        if dedup, !baselines.isEmpty || json { throw ValidationError("--dedup goes without --vs and --json") }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        let pages: PageCorpus
        do { pages = try PageCorpus(path: corpus) } catch {
            printError("tmem bench: \(error)")
            throw ExitCode(2)
        }
        let bench = Bench(corpus: pages, options: .init(compressor: compressor, level: level, threads: threads, seed: seed, rounds: rounds))
        let out = LineWriter(fd: 1, flushAt: 0)
        if dedup { return try runDeduplication(bench, pages, out) }
        if !json {
            out.writeLine("tmem bench: \(pages.pageCount) pages (\(formatByteCount(pages.pageCount * 4096))) from \(corpus), "
                + "\(compressor), \(threads) thread\(threads == 1 ? "" : "s"), best of \(rounds) round\(rounds == 1 ? "" : "s") per phase")
        }
        let tmem = try bench.runTmem()
        var measured: [SystemResult] = []
        var notes: [String: String] = [:]
        for baseline in Baseline.allCases where baselines.contains(baseline) {
            do {
                measured.append(try baseline == .zram ? bench.runZram() : bench.runRaw())
            } catch let unavailable as BenchUnavailable {
                notes["\(baseline)_skipped"] = unavailable.reason
                if !json { out.writeLine("\(baseline): not measured: \(unavailable.reason); Tmem's part runs alone") }
            }
        }
        if json {
            out.writeLine(BenchReport.json(tmem, measured, notes: notes))
        } else {
            for line in BenchReport.table(tmem, measured) { out.writeLine(line) }
            out.writeLine("(\(tmem.label)" + measured.map { "; \($0.name) = \($0.label)" }.joined() + ")")
            let stats = bench.zcacheStatistics
            out.writeLine("zcache after the stores: " + stats.namedValues.map { "\($0.0)=\($0.1)" }.joined(separator: " "))
        }
        do throws(Errno) { try out.finish() } catch where error != Errno(EPIPE) {
            printError("tmem bench: cannot write the output: \(describeErrno(error.rawValue))")
            throw ExitCode(2)
        } catch {}
        let bad = ([tmem] + measured).filter { $0.mismatches > 0 }
        if !bad.isEmpty {
            printError("tmem bench: pages did not come back exactly from " + bad.map(\.name).joined(separator: ", "))
            throw ExitCode.failure
        }
    }
}

extension BenchCommand {
    /// `--dedup`: the corpus once and twice, deduplication off and on, as one table.
    private func runDeduplication(_ bench: Bench, _ pages: PageCorpus, _ out: LineWriter) throws {
        out.writeLine("tmem bench --dedup: \(pages.pageCount) pages (\(formatByteCount(pages.pageCount * 4096))) from \(corpus), "
            + "\(compressor), one ephemeral pool, \(threads) thread\(threads == 1 ? "" : "s"), best of \(rounds) round\(rounds == 1 ? "" : "s")")
        var results: [DedupResult] = []
        for copies in [1, 2] {
            for deduplicate in [false, true] { results.append(try bench.runDeduplication(copies: copies, deduplicate: deduplicate)) }
        }
        for line in BenchReport.deduplicationTable(results) { out.writeLine(line) }
        do throws(Errno) { try out.finish() } catch where error != Errno(EPIPE) {
            printError("tmem bench: cannot write the output: \(describeErrno(error.rawValue))")
            throw ExitCode(2)
        } catch {}
        if results.contains(where: { $0.mismatches > 0 }) {
            printError("tmem bench: pages did not come back exactly from zcache")
            throw ExitCode.failure
        }
    }
}
