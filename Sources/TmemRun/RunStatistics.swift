import Histogram
import Synchronization

/// What `tmem run` did, as of one moment: the figures of its report and of each `--stats-every` line.
public struct RunStatistics: Sendable, Equatable {
    /// Faults served, by where the page came from.
    public var zeroFills = 0
    public var memoryLoads = 0
    public var diskLoads = 0
    /// Pages served ahead of a fault, in the same run (counted in the three figures above).
    public var readaheadPages = 0
    /// Faults that waited for the page's eviction batch to finish.
    public var waitsForEviction = 0
    /// Faults that waited for the reclaimer to make room (it fell behind: `direct_reclaims`).
    public var directReclaims = 0
    /// Faults served over the budget because the helper thread was not answering (see docs/RUN.md).
    public var budgetOverruns = 0
    /// Pages evicted (moved out and stored), those the store put on disk, and those the kernel would not
    /// move (shared copy-on-write with a forked process, or changing under the move).
    public var evictions = 0
    public var evictionsToDisk = 0
    public var evictionsRefused = 0
    public var batches = 0
    /// Pages the program dropped (MADV_DONTNEED, munmap) while the monitor knew them.
    public var droppedPages = 0
    public var remaps = 0
    public var forks = 0
    public var execs = 0
    /// Processes that said hello (every program image, every forked child).
    public var processes = 0
    /// Resident memory of the whole process tree: peak and mean of the samples, in bytes.
    public var peakResidentBytes = 0
    public var meanResidentBytes = 0
    public var residentSamples = 0
    /// The budget, and what of it paged memory may use now (the rest is the tree's unpaged memory).
    public var budgetBytes = 0
    public var pagedLimitBytes = 0
    /// Paged pages resident now, and pages stored now.
    public var residentPages = 0
    public var storedPages = 0
    /// The backend's memory and the bytes it holds before and after compression (0 when it does not say).
    public var poolBytes = 0
    public var originalBytes = 0
    public var compressedBytes = 0
    /// Pages read from and written to the swap file.
    public var diskReads = 0
    public var diskWrites = 0
    /// Fault service time in the monitor (message read to page mapped), nanoseconds.
    public var faultP50Nanoseconds: UInt64 = 0
    public var faultP99Nanoseconds: UInt64 = 0

    public init() {}

    /// All faults served.
    public var faults: Int { zeroFills + memoryLoads + diskLoads }

    /// Original over compressed bytes (0 when nothing is stored).
    public var compressionRatio: Double {
        compressedBytes > 0 ? Double(originalBytes) / Double(compressedBytes) : 0
    }

    /// The figures as (key, value) pairs, in report order: the keys of the JSON lines.
    public var namedValues: [(String, Double)] {
        [
            ("peak_rss_bytes", Double(peakResidentBytes)), ("mean_rss_bytes", Double(meanResidentBytes)),
            ("budget_bytes", Double(budgetBytes)), ("paged_limit_bytes", Double(pagedLimitBytes)),
            ("resident_pages", Double(residentPages)), ("stored_pages", Double(storedPages)),
            ("faults", Double(faults)), ("faults_zero", Double(zeroFills)), ("faults_memory", Double(memoryLoads)),
            ("faults_disk", Double(diskLoads)), ("readahead_pages", Double(readaheadPages)), ("waits_for_eviction", Double(waitsForEviction)),
            ("direct_reclaims", Double(directReclaims)), ("budget_overruns", Double(budgetOverruns)),
            ("evictions", Double(evictions)), ("evictions_to_disk", Double(evictionsToDisk)),
            ("evictions_refused", Double(evictionsRefused)), ("clean_evictions_skipped", 0),
            ("batches", Double(batches)), ("dropped_pages", Double(droppedPages)), ("remaps", Double(remaps)),
            ("forks", Double(forks)), ("execs", Double(execs)), ("processes", Double(processes)),
            ("compression_ratio", compressionRatio), ("pool_bytes", Double(poolBytes)),
            ("disk_reads", Double(diskReads)), ("disk_writes", Double(diskWrites)),
            ("fault_p50_ns", Double(faultP50Nanoseconds)), ("fault_p99_ns", Double(faultP99Nanoseconds)),
        ]
    }

    public static func == (a: Self, b: Self) -> Bool { a.namedValues.elementsEqual(b.namedValues) { $0 == $1 } }
}

/// The monitor's live counters: atomics bumped on the fault and eviction paths, read into a
/// ``RunStatistics``.
final class RunCounters: Sendable {
    let zeroFills = Atomic<Int>(0)
    let memoryLoads = Atomic<Int>(0)
    let diskLoads = Atomic<Int>(0)
    let readaheadPages = Atomic<Int>(0)
    let waitsForEviction = Atomic<Int>(0)
    let directReclaims = Atomic<Int>(0)
    let budgetOverruns = Atomic<Int>(0)
    let evictions = Atomic<Int>(0)
    let evictionsToDisk = Atomic<Int>(0)
    let evictionsRefused = Atomic<Int>(0)
    let batches = Atomic<Int>(0)
    let droppedPages = Atomic<Int>(0)
    let remaps = Atomic<Int>(0)
    let forks = Atomic<Int>(0)
    let execs = Atomic<Int>(0)
    let processes = Atomic<Int>(0)
    let latency = Mutex(Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .two))
    let samples = Mutex((peak: 0, sum: 0.0, count: 0))

    func add(_ counter: borrowing Atomic<Int>, _ amount: Int = 1) {
        counter.wrappingAdd(amount, ordering: .relaxed)
    }

    func recordLatency(_ nanoseconds: UInt64) {
        latency.withLock { _ = $0.record(nanoseconds) }
    }

    func sampleResident(_ bytes: Int) {
        samples.withLock {
            $0.peak = max($0.peak, bytes)
            $0.sum += Double(bytes)
            $0.count += 1
        }
    }

    /// The counters' part of a snapshot (the monitor fills in the rest).
    func snapshot() -> RunStatistics {
        var s = RunStatistics()
        s.zeroFills = zeroFills.load(ordering: .relaxed)
        s.memoryLoads = memoryLoads.load(ordering: .relaxed)
        s.diskLoads = diskLoads.load(ordering: .relaxed)
        s.readaheadPages = readaheadPages.load(ordering: .relaxed)
        s.waitsForEviction = waitsForEviction.load(ordering: .relaxed)
        s.directReclaims = directReclaims.load(ordering: .relaxed)
        s.budgetOverruns = budgetOverruns.load(ordering: .relaxed)
        s.evictions = evictions.load(ordering: .relaxed)
        s.evictionsToDisk = evictionsToDisk.load(ordering: .relaxed)
        s.evictionsRefused = evictionsRefused.load(ordering: .relaxed)
        s.batches = batches.load(ordering: .relaxed)
        s.droppedPages = droppedPages.load(ordering: .relaxed)
        s.remaps = remaps.load(ordering: .relaxed)
        s.forks = forks.load(ordering: .relaxed)
        s.execs = execs.load(ordering: .relaxed)
        s.processes = processes.load(ordering: .relaxed)
        latency.withLock {
            s.faultP50Nanoseconds = $0.valueAtPercentile(50)
            s.faultP99Nanoseconds = $0.valueAtPercentile(99)
        }
        samples.withLock {
            s.peakResidentBytes = $0.peak
            s.meanResidentBytes = $0.count > 0 ? Int($0.sum / Double($0.count)) : 0
            s.residentSamples = $0.count
        }
        return s
    }
}
