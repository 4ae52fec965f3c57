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
    @Option(help: "Seed of the random load order.") var seed: UInt64 = 1
    @Option(help: "Runs of each phase; the fastest is reported.") var rounds = 3

    func validate() throws {
        guard (1...64).contains(threads) else { throw ValidationError("threads must be 1...64") }
        guard (1...100).contains(rounds) else { throw ValidationError("rounds must be 1...100") }
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
