#if canImport(Glibc)
import Glibc
#endif
import Tmem
import TmemReplay

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
}

/// One side's result: per phase, seconds, major faults, and microseconds per fault.
struct SideResult: Codable {
    var randSeconds: Double
    var randFaults: Int
    var seqSeconds: Double
    var seqFaults: Int
    var mismatches: Int

    var randMicrosPerFault: Double { randFaults == 0 ? 0 : randSeconds * 1e6 / Double(randFaults) }
    var seqMicrosPerFault: Double { seqFaults == 0 ? 0 : seqSeconds * 1e6 / Double(seqFaults) }
}

func now() -> Double { Double(monotonicNanoseconds()) / 1e9 }

func majorFaults() -> Int {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return usage.ru_majflt
}
