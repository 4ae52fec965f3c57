#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Tmem
import TmemPaging
import TmemReplay
import TmemTestKit

/// The access pattern both sides run: fill a region with corpus pages (cycling through the corpus), then
/// read every page back in a random order and then in address order, checking each page's bytes. The
/// time per phase divided by the major faults it took is the figure compared.
struct Workload {
    let corpus: PageCorpus
    let pages: Int
    let seed: UInt64

    /// Fills `pages` pages at `base` with corpus pages.
    func fill(_ base: UnsafeMutableRawPointer) {
        for p in 0..<pages {
            (base + p * pageSize).copyMemory(from: corpus.page(p % corpus.pageCount).baseAddress!, byteCount: pageSize)
        }
    }

    /// Reads every page in `order`, comparing it with the corpus page it was filled with.
    ///
    /// - Returns: Seconds taken and pages that differed.
    func readBack(_ base: UnsafeMutableRawPointer, order: [Int]) -> (seconds: Double, mismatches: Int) {
        var bad = 0
        let start = now()
        for p in order where memcmp(base + p * pageSize, corpus.page(p % corpus.pageCount).baseAddress!, pageSize) != 0 {
            bad += 1
        }
        return (now() - start, bad)
    }

    /// Reads every page in `order` from `threads` threads at once, thread `t` taking the pages at
    /// positions `t`, `t + threads`, ... of `order` (so each reads a random share of the region), each
    /// comparing what it reads with the corpus.
    ///
    /// - Returns: Seconds from the start of the first thread to the end of the last, and pages that differed.
    func readBack(_ base: UnsafeMutableRawPointer, order: [Int], threads: Int) -> (seconds: Double, mismatches: Int) {
        let address = UInt(bitPattern: base)
        let bad = Atomic<Int>(0)
        let start = now()
        try! runConcurrently(threads: threads) { [self] t in
            // Threads inherit the creator's affinity, which Tmem's side pins to one CPU: start from all.
            PagedRegion.Colocation.unpinCallingThread()
            let base = UnsafeMutableRawPointer(bitPattern: address)!
            var mine = 0
            for i in stride(from: t, to: order.count, by: threads) {
                let p = order[i]
                if memcmp(base + p * pageSize, corpus.page(p % corpus.pageCount).baseAddress!, pageSize) != 0 { mine += 1 }
            }
            bad.add(mine, ordering: .relaxed)
        }
        return (now() - start, bad.load(ordering: .relaxed))
    }

    var randomOrder: [Int] {
        var rng = SeededGenerator(seed: seed)
        return Array(0..<pages).shuffled(using: &rng)
    }

    var sequentialOrder: [Int] { Array(0..<pages) }
}

/// What both sides run: region and budget sizes, the corpus, the seed of the random order.
struct RunSpec {
    let regionBytes: Int
    let budgetBytes: Int
    let corpusPath: String
    let seed: UInt64
    /// Application threads of the threaded random readback; 1: not run.
    var threads = 1
}

/// One side's result: per phase, seconds, major faults, and microseconds per fault; with `--threads N`,
/// also the random readback from N threads at once (zero when not run).
struct SideResult {
    var randSeconds: Double
    var randFaults: Int
    var seqSeconds: Double
    var seqFaults: Int
    var mismatches: Int
    var threadedRandSeconds = 0.0
    var threadedRandFaults = 0
    /// Evictions made on the fault path because the background reclaimer had not made room in time
    /// (Tmem's side only; the kernel's direct reclaim is not counted here).
    var directReclaims = 0

    var randMicrosPerFault: Double { randFaults == 0 ? 0 : randSeconds * 1e6 / Double(randFaults) }
    var seqMicrosPerFault: Double { seqFaults == 0 ? 0 : seqSeconds * 1e6 / Double(seqFaults) }
    var randFaultsPerSecond: Double { randSeconds == 0 ? 0 : Double(randFaults) / randSeconds }
    var threadedRandFaultsPerSecond: Double {
        threadedRandSeconds == 0 ? 0 : Double(threadedRandFaults) / threadedRandSeconds
    }
}

func now() -> Double { Double(monotonicNanoseconds()) / 1e9 }

func majorFaults() -> Int {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return usage.ru_majflt
}

/// The random readback again from `threads` threads, after filling the region once more (pushing it out
/// to swap); `faults` counts what each side counts as a fault. Returns the two threaded fields.
func threadedPhase(
    _ workload: Workload, base: UnsafeMutableRawPointer, threads: Int, faults: () -> Int
) -> (seconds: Double, faults: Int, mismatches: Int) {
    guard threads > 1 else { return (0, 0, 0) }
    workload.fill(base)
    let f0 = faults()
    let read = workload.readBack(base, order: workload.randomOrder, threads: threads)
    return (read.seconds, faults() - f0, read.mismatches)
}
