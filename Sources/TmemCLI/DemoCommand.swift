import ArgumentParser
import Tmem
import TmemPaging
import TmemReplay
import TmemZcache
#if canImport(Glibc)
import Glibc
#endif

/// `tmem demo`: the main job, with no arguments and no files. A program's heap, several times larger
/// than its memory budget, lives in a paged region: pages it has not touched lately move out through
/// frontswap (compressed RAM first, then a swap file) and fault back in on touch. The demo builds
/// realistic data there, scans it, reads and writes it at random and through a skewed hot set, checks
/// every byte, and prints per phase where the faulted pages came from and what that saved.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Page a heap 4x its memory budget through userfaultfd and frontswap; show every phase."
    )

    @Option(help: "Region size, e.g. 1GiB (default: 1 GiB, less on a machine with under 8 GiB of RAM).",
            transform: parseCapacity) var region: Int?
    @Option(help: "Resident budget (default: a quarter of the region).", transform: parseCapacity) var budget: Int?
    @Option(help: "Compressed-RAM capacity (default: a quarter of the region).", transform: parseCapacity) var capacity: Int?
    @Option(help: "Victim policy: \(PagedRegion.VictimPolicy.allCases.map(\.rawValue).joined(separator: " or ")).",
            transform: parsePolicy)
    var policy: PagedRegion.VictimPolicy?
    @Option(help: "Random seed of the data and the access pattern.") var seed: UInt64 = 2026
    @Option(help: "Write the region's frontswap operations to this file as a `tmem replay` trace.")
    var recordTrace: String?
    @Option(help: "Where the fault handler runs: \(PagedRegion.Colocation.allCases.map(\.rawValue).joined(separator: ", ")) (default: pinFaultingThread).",
            transform: parseColocation)
    var colocation: PagedRegion.Colocation = .pinFaultingThread
    @OptionGroup var remote: HostOptions

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        let (regionBytes, budgetBytes, capacityBytes) = try sizes()
        let say = LineWriter(fd: 1, flushAt: 0)
        let zcache = try Zcache(configuration: .init(limit: capacityBytes))
        var config = PagedRegion.Configuration(residentBudget: budgetBytes)
        if let policy { config.victimPolicy = policy }
        config.recordTrace = recordTrace
        // The demo touches the region from this one thread: run it beside the fault handler, so a fault
        // is a hand-off on one CPU rather than a wake-up across two (about 70 us here).
        config.colocation = colocation
        // With a host: compressed RAM first, the host's RAM second, the swap file last.
        let host = try remote.makeRemote()
        let backend: any Backend = host.map { TieredBackend(upper: zcache, lower: $0) } ?? zcache
        let paged = try PagedRegion(size: regionBytes, backend: backend, configuration: config)
        let pages = paged.pageCount
        say.writeLine("tmem demo: a \(formatByteCount(regionBytes)) heap in a paged region, \(formatByteCount(budgetBytes)) "
            + "resident, behind it \(formatByteCount(capacityBytes)) of compressed RAM (zcache, lz4)"
            + (remote.host.map { ", the host at \($0)" } ?? "") + " and a swap file; "
            + "\(config.victimPolicy) victims, write tracking \(paged.isWriteTracking ? "on" : "off")")
        let heap = DemoHeap(pages: pages, seed: seed)
        var report = PhaseReport(say: say, zcache: zcache)
        let failures = paged.withUnsafeMutableBytes { memory -> Int in
            var bad = 0
            report.run("build", paged) {
                // Text records, numeric arrays, zero-filled stretches and some incompressible bytes.
                for p in 0..<pages { heap.write(p, memory) }
                return pages
            }
            report.run("sequential scan", paged) {
                for p in 0..<pages where !heap.check(p, memory) { bad += 1 }
                return pages
            }
            var rng = SeededGenerator(seed: seed &+ 1)
            let randomOps = pages / 2
            report.run("random reads and writes", paged) {
                for _ in 0..<randomOps {
                    let p = Int.random(in: 0..<pages, using: &rng)
                    if rng.next() % 10 < 3 { heap.write(p, memory) } else if !heap.check(p, memory) { bad += 1 }
                }
                return randomOps
            }
            let zipf = ZipfSampler(count: pages, exponent: 1.0, seed: seed &+ 2)
            let hotOps = pages
            report.run("skewed hot set (Zipf)", paged) {
                for _ in 0..<hotOps {
                    let p = zipf.next(using: &rng)
                    if rng.next() % 10 == 0 { heap.write(p, memory) } else if !heap.check(p, memory) { bad += 1 }
                }
                return hotOps
            }
            report.run("final check", paged) {
                for p in 0..<pages where !heap.check(p, memory) { bad += 1 }
                return pages
            }
            return bad
        }
        let total = paged.statistics
        say.writeLine(failures == 0 ? "every byte verified: \(heap.checks) page checks, none differed"
            : "\(failures) PAGE CHECKS FAILED")
        report.summary(total)
        let last = paged.close()
        if let failure = last.traceFailure {
            printError("tmem demo: the trace in \(recordTrace ?? "?") is incomplete: \(failure)")
        }
        if total.failedEvictions > 0 {
            say.writeLine("BUDGET EXCEEDED: \(total.failedEvictions) evictions failed, so up to "
                + "\(total.peakResidentPages) pages (\(formatByteCount(total.peakResidentPages * pageSize))) were resident "
                + "against a budget of \(total.residentBudgetPages) (\(formatByteCount(budgetBytes))); "
                + "is the swap file's disk full?")
        }
        try finishOutput(say, of: "demo")
        if failures > 0 || total.failedEvictions > 0 || last.traceFailure != nil { throw ExitCode.failure }
    }
}

extension DemoCommand {
    /// The region, budget and compressed capacity: as given, or the defaults; checked against each other
    /// and against what the machine has (memory for the budget and the compressed pages, disk for a
    /// swap file that may grow to the region's size).
    func sizes() throws -> (region: Int, budget: Int, capacity: Int) {
        let ram = physicalMemoryBytes()
        let regionBytes = region ?? (ram >= 8 << 30 ? 1 << 30 : max(64 << 20, ram / 8))
        let minimum = PagedRegion.minimumResidentBudget
        guard regionBytes >= minimum else {
            throw ValidationError("--region \(formatByteCount(regionBytes)) is too small: a region is at least "
                + "\(formatByteCount(minimum)) (its smallest resident budget)")
        }
        if let budget {
            guard budget <= regionBytes else {
                throw ValidationError("--budget \(formatByteCount(budget)) is larger than the region "
                    + "(\(formatByteCount(regionBytes))): nothing would ever be paged out")
            }
            guard budget >= minimum else {
                throw ValidationError("--budget \(formatByteCount(budget)) is too small: at least \(formatByteCount(minimum))")
            }
        }
        let budgetBytes = budget ?? max(regionBytes / 4, minimum)
        let capacityBytes = capacity ?? regionBytes / 4
        try checkMachineHolds(memory: saturatingSum(budgetBytes, capacityBytes), what: "the resident budget and the compressed RAM",
            disk: regionBytes, in: environmentValue("TMPDIR") ?? "/tmp")
        return (regionBytes, budgetBytes, capacityBytes)
    }
}

func parseColocation(_ text: String) throws -> PagedRegion.Colocation {
    guard let colocation = PagedRegion.Colocation(rawValue: text) else {
        throw ValidationError("'\(text)' is not a colocation: "
            + PagedRegion.Colocation.allCases.map(\.rawValue).joined(separator: ", "))
    }
    return colocation
}

func parsePolicy(_ text: String) throws -> PagedRegion.VictimPolicy {
    guard let policy = PagedRegion.VictimPolicy(rawValue: text) else {
        throw ValidationError("'\(text)' is not a victim policy: "
            + PagedRegion.VictimPolicy.allCases.map(\.rawValue).joined(separator: ", "))
    }
    return policy
}
