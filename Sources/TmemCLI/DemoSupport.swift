import ArgumentParser
import Tmem
import TmemSQLiteWorkload
import TmemPaging
import TmemReplay
import TmemZcache
#if canImport(Glibc)
import Glibc
#endif

/// The demo's data: each page's content is a function of its index and how often it was written
/// (``DemoPages``), so any page can be checked at any time without keeping a copy.
final class DemoHeap {
    let pages: Int
    let seed: UInt64
    private let contents: DemoPages
    private var versions: [UInt32]
    private(set) var checks = 0
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: pageSize)

    init(pages: Int, seed: UInt64) {
        self.pages = pages
        self.seed = seed
        contents = DemoPages(seed: seed)
        versions = [UInt32](repeating: 0, count: pages)
    }

    deinit { scratch.deallocate() }

    /// The kind of a page (``DemoPages/kind(_:)``).
    func kind(_ p: Int) -> PageKind { contents.kind(p) }

    /// Writes a new version of page `p` into the region.
    func write(_ p: Int, _ memory: UnsafeMutableRawBufferPointer) {
        versions[p] &+= 1
        contents.fill(p, version: versions[p], into: UnsafeMutableRawBufferPointer(rebasing: memory[p * pageSize..<(p + 1) * pageSize]))
    }

    /// Whether page `p` in the region holds its latest version.
    func check(_ p: Int, _ memory: UnsafeMutableRawBufferPointer) -> Bool {
        checks += 1
        contents.fill(p, version: versions[p], into: scratch)
        return memcmp(scratch.baseAddress!, memory.baseAddress! + p * pageSize, pageSize) == 0
    }
}

/// Draws page numbers with Zipf-distributed popularity (rank r with weight 1/r^s), ranks scattered
/// over the region by a seeded permutation.
struct ZipfSampler {
    private let cumulative: [Double]
    private let pageOfRank: [Int]

    init(count: Int, exponent: Double, seed: UInt64) {
        var total = 0.0
        var sums = [Double](repeating: 0, count: count)
        for r in 0..<count {
            total += 1 / pow(Double(r + 1), exponent)
            sums[r] = total
        }
        cumulative = sums.map { $0 / total }
        var rng = SeededGenerator(seed: seed)
        pageOfRank = Array(0..<count).shuffled(using: &rng)
    }

    func next<G: RandomNumberGenerator>(using rng: inout G) -> Int {
        let u = Double.random(in: 0..<1, using: &rng)
        var lo = 0, hi = cumulative.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cumulative[mid] < u { lo = mid + 1 } else { hi = mid }
        }
        return pageOfRank[lo]
    }
}

/// Times each phase and prints what it did: faults by source, faults per second, microseconds per
/// fault, and the compressed pool's state.
struct PhaseReport {
    let say: LineWriter
    let zcache: Zcache
    private var number = 0

    init(say: LineWriter, zcache: Zcache) {
        self.say = say
        self.zcache = zcache
    }

    mutating func run(_ name: String, _ region: borrowing PagedRegion, _ body: () -> Int) {
        number += 1
        writeProgress("\(number). \(name)...")
        let before = region.statistics
        var clock = Stopwatch()
        let operations = body()
        let time = clock.lap()
        let after = region.statistics
        writeProgress("")
        let zero = after.zeroFillFaults - before.zeroFillFaults
        let tmem = after.tmemFaults - before.tmemFaults
        let disk = after.diskFaults - before.diskFaults
        let faults = zero + tmem + disk
        say.writeLine("\(number). \(name): \(operations) pages touched in \(time); \(faults) faults "
            + "(\(clock.rate(faults))/s; fault latency so far p50 \(micros(after.faultLatencyP50)) us, "
            + "p99 \(micros(after.faultLatencyP99)) us): \(zero) first touches, "
            + "\(tmem) from compressed RAM, \(disk) from the swap file; "
            + "\(after.evictions - before.evictions) evictions (\(after.cleanEvictionsSkipped - before.cleanEvictionsSkipped) clean, not stored again), "
            + "\(after.prefetchHits - before.prefetchHits) readahead hits")
        let failed = after.failedEvictions - before.failedEvictions
        if failed > 0 {
            say.writeLine("   \(failed) EVICTIONS FAILED (the swap file could not be written: "
                + "\(after.frontswap.deviceErrors) device errors so far): up to \(after.peakResidentPages) pages "
                + "resident against a budget of \(after.residentBudgetPages)")
        }
        let s = zcache.statistics
        say.writeLine("   compressed RAM: \(s.storedPages) pages in \(formatByteCount(s.memUsedTotal)) "
            + "(\((s.compressionRatio * 100).rounded() / 100)x, \(s.sameFilledPages) same-filled), "
            + "\(s.writtenBackPages) written back to the swap file so far")
    }

    /// What the run saved against swapping to the swap file alone, where every stored eviction is a
    /// disk write and every fault of an evicted page a disk read.
    func summary(_ total: PagingStatistics) {
        let stores = total.frontswap.succStores + total.frontswap.failedStores
        let diskWrites = total.frontswap.failedStores + total.frontswap.repatriatedPages
        let reads = total.tmemFaults + total.diskFaults
        say.writeLine("against the swap file alone: \(diskWrites) disk writes instead of \(stores) "
            + "(\(stores - diskWrites) saved), \(total.diskFaults) disk reads instead of \(reads) "
            + "(\(total.tmemFaults) saved)")
    }
}

/// A duration in microseconds, one decimal.
func micros(_ d: Duration) -> Double {
    let (seconds, attoseconds) = d.components
    return ((Double(seconds) * 1e6 + Double(attoseconds) / 1e12) * 10).rounded() / 10
}

/// A progress line on standard error when it is a terminal (rewritten in place).
func writeProgress(_ text: String) {
    guard isatty(2) == 1 else { return }
    var line = "\r" + text + String(repeating: " ", count: max(0, 60 - text.count)) + (text.isEmpty ? "\r" : "")
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

/// Refuses, with a clear message, a demo that would ask for more than the machine has: `memory` bytes of
/// RAM (compared with the kernel's MemAvailable) and `disk` bytes of swap file in `directory` (compared
/// with the space free there; a sparse swap file takes only what is written, but may grow that far).
func checkMachineHolds(memory: Int, what: String, disk: Int, in directory: String) throws {
    if let available = availableMemoryBytes(), memory > available {
        throw ValidationError("\(what) need \(formatByteCount(memory)) of RAM, but this machine has "
            + "\(formatByteCount(available)) available: choose smaller sizes")
    }
    var fs = statvfs()
    if statvfs(directory, &fs) == 0 {
        let (product, overflow) = Int(fs.f_bavail).multipliedReportingOverflow(by: Int(fs.f_frsize))
        let free = overflow ? Int.max : product
        if disk > free {
            throw ValidationError("the swap file may grow to \(formatByteCount(disk)) in \(directory), which has "
                + "\(formatByteCount(free)) free: choose a smaller size, or set TMPDIR to a roomier place")
        }
    }
}

/// The kernel's estimate of memory available without swapping (MemAvailable in /proc/meminfo), or nil.
func availableMemoryBytes() -> Int? { KernelIO.field("/proc/meminfo", "MemAvailable:") }

/// `a + b`, or `Int.max` where that overflows (sizes a user gave, compared with what the machine has).
func saturatingSum(_ a: Int, _ b: Int) -> Int {
    let (sum, overflow) = a.addingReportingOverflow(b)
    return overflow ? .max : sum
}
