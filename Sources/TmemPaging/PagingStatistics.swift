import TmemFrontswap

/// A region's counters, named after the events they count, with its frontswap area's counters.
///
/// Every fault is counted once, by what served it: ``zeroFillFaults``, ``tmemFaults``, ``diskFaults`` for
/// a page that was not mapped, ``writeProtectFaults`` for the first write to a mapped clean page. Pages
/// brought in by readahead are not faults; they count in ``prefetchedPages``.
public struct PagingStatistics: Sendable, Equatable, CustomStringConvertible {
    /// Faults on never-stored pages, served with a zero page.
    public var zeroFillFaults = 0
    /// Faults served from transcendent memory (major faults that found the page in the backend).
    public var tmemFaults = 0
    /// Faults served from the swap file (transcendent memory had refused or written back the page).
    public var diskFaults = 0
    /// First writes to a clean or zero page (userfaultfd write-protect faults): the page became dirty.
    public var writeProtectFaults = 0
    /// Faults that found their page evicted recently enough to be part of the working set (the
    /// refault test): the page joined the protected list (the kernel's `workingset_activate`).
    public var refaultActivations = 0
    /// Pages dropped from the region to keep it within its budget (stored or not).
    public var evictions = 0
    /// Faults that had to evict before they could be served: reclaim ahead of faults (the handler's, once
    /// it has served what it read) had not kept room under the budget. Each counts once, however many
    /// pages it evicted.
    public var directReclaims = 0
    /// Evictions of clean pages that stored nothing: their slot already held the same bytes (or they
    /// were never-written zero pages).
    public var cleanEvictionsSkipped = 0
    /// Evictions abandoned because the store failed (the swap file could not be written): the page stayed
    /// mapped and the region went over its budget.
    public var failedEvictions = 0
    /// Pages brought in by readahead alongside a fault's own page.
    public var prefetchedPages = 0
    /// Prefetched pages the reader then used: the sequential stream that caused them faulted again
    /// beyond them, so it went through them without faulting (the kernel counts a hit when the page is
    /// found in the swap cache; here it is mapped, and no fault shows its use, so the stream's progress
    /// does).
    public var prefetchHits = 0
    /// Prefetched pages evicted before their use was confirmed.
    public var prefetchWasted = 0
    /// Pages mapped now.
    public var residentPages = 0
    /// The budget in force, in pages.
    public var residentBudgetPages = 0
    /// The most pages mapped at once so far: above ``residentBudgetPages`` only when evictions failed.
    public var peakResidentPages = 0
    /// Median service time of a fault in the handler: from reading its message to the return of the
    /// ioctl that wakes the faulting thread. The kernel's trap and wake-up are not included; when the
    /// handler shares the faulting thread's CPU (``PagedRegion/Colocation``), the time the woken thread
    /// runs before the handler gets the CPU back is.
    public var faultLatencyP50: Duration = .zero
    /// 99th percentile of the same.
    public var faultLatencyP99: Duration = .zero
    /// The region's frontswap area: stores, loads, invalidates, pages held.
    public var frontswap = FrontswapCounters()
    /// Why trace recording stopped, if it did.
    public var traceFailure: String?
    /// Pages that could not be brought back (frontswap lost them or could not reach them): each such
    /// page's faulting access got SIGBUS, as a page the kernel cannot read back from swap does.
    public var lostPages = 0
    /// Why the last of them was lost, for people.
    public var lastLoss: String?

    /// Creates zeroed statistics.
    public init() {}

    /// Faults that needed a page from frontswap: ``tmemFaults`` + ``diskFaults``.
    public var majorFaults: Int { tmemFaults + diskFaults }

    /// Faults of every kind.
    public var faults: Int { zeroFillFaults + majorFaults + writeProtectFaults }

    public var description: String {
        "faults: zero=\(zeroFillFaults) tmem=\(tmemFaults) disk=\(diskFaults) wp=\(writeProtectFaults) "
            + "activations=\(refaultActivations) evictions=\(evictions) direct_reclaims=\(directReclaims) clean_skipped=\(cleanEvictionsSkipped) "
            + "failed=\(failedEvictions) prefetched=\(prefetchedPages) hits=\(prefetchHits) wasted=\(prefetchWasted) "
            + "resident=\(residentPages)/\(residentBudgetPages) "
            + "p50=\(Self.microseconds(faultLatencyP50)) p99=\(Self.microseconds(faultLatencyP99)) "
            + "frontswap: \(frontswap)"
    }

    /// "12.3us": a latency in microseconds with one decimal.
    private static func microseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let nanoseconds = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        return "\(nanoseconds / 1000).\(nanoseconds % 1000 / 100)us"
    }
}
