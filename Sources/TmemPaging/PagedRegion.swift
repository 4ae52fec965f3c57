import Tmem
import TmemFrontswap

/// A memory region larger than its memory budget, paged through frontswap: transcendent memory first,
/// then a real swap file. The program reads and writes it as plain memory; pages it has not touched
/// lately move out, and come back byte for byte when touched (userfaultfd, handled on a thread of ours).
///
/// In the kernel, frontswap is called by the swap subsystem; here this type is that subsystem. It
/// reserves the range (anonymous, `MAP_NORESERVE`), registers it with userfaultfd for missing pages and,
/// where the kernel has it, write-protection, and keeps at most ``residentBudget`` bytes mapped:
///
/// - **First touch** of a never-stored page: a read maps the shared zero page (`UFFDIO_ZEROPAGE`); a
///   write gets a zeroed page of its own in one `UFFDIO_COPY` (the zero page would cost it a second,
///   copy-on-write, fault).
/// - **Eviction** when a fault needs room: the victim is stored straight from the region with
///   ``Frontswap/store(_:offset:page:)`` (no copy of ours), then dropped with `MADV_DONTNEED`. A page
///   loaded from frontswap and not written since is dropped without a store: loads are non-destructive,
///   so the held copy is still valid. Writes are seen with userfaultfd write-protection (a page is mapped
///   write-protected after a load; its first write takes a WP fault that marks it dirty).
/// - **Victims** come from a segmented FIFO with refault-distance activation (``VictimPolicy/segmented``:
///   pages that fault back soon after eviction are protected, as the kernel's workingset detection
///   activates them), or plain FIFO.
/// - **Readahead:** a fault that continues a sequential stream (forward or backward, up to 8 streams
///   at once) brings in the next evicted pages with it, in one `UFFDIO_COPY`; the window starts at 2 pages
///   and doubles while the stream uses what was read ahead, up to ``Configuration/readaheadMaxPages``.
/// - **Faults** are served on one dedicated thread. Any number of threads may fault at once, and the
///   kernel's own accesses (a `read(2)` into the region) wait like any other. The thread moves to the
///   CPU of the thread it serves (``Colocation``): a fault is a hand-off between two threads, and on a
///   virtual machine a hand-off across CPUs costs several times the fault itself.
/// - **Stores** of evicted pages and their drops are batched (up to 64 pages, one `process_madvise` and
///   one TLB shootdown per batch where the kernel allows it).
///
/// The region owns one frontswap area (area 0 of a ``Frontswap`` of its own over the backend it is given)
/// and its swap file. A frontend of its own, rather than an area of a shared one, because a frontswap
/// area keeps its size and backing device for the life of its frontend: regions that come and go with
/// their own sizes could not reuse area numbers of a shared one. Several regions may share one backend
/// (each gets its own pool in it).
///
/// ## Trace recording
/// With ``Configuration/recordTrace``, every frontswap operation is written as a `tmem replay` trace:
/// `init 0 PAGES` when the region is made, `store 0 OFFSET K` for each eviction that stores (K counts the
/// region's stores from 0, and a replay stores corpus page K: use a corpus of at least as many pages as
/// the trace has stores), `load 0 OFFSET` for each page brought back (readahead included),
/// `invalidate 0 OFFSET` when a loaded page is first written (its held copy is stale), and
/// `invalidate-area 0` on close.
///
/// ## Caveats and misuse
/// - Do not `munmap`, `mremap`, `mprotect` or `madvise` the region, or fork and use it in the child (it
///   is `MADV_DONTFORK`): the handler's view of which pages are mapped would be wrong. A fault it cannot
///   serve ends the process with a message.
/// - A page that cannot be brought back (the backend reports it damaged, the swap file fails on read)
///   ends the process, as SIGBUS does for a failed swap-in.
/// - Close only after every thread has stopped touching the region: a thread still faulting when it
///   closes is woken on an unmapped range and crashes.
/// - With `UFFD_USER_MODE_ONLY` (the fallback for unprivileged processes), kernel accesses to pages that
///   are not mapped fail with EFAULT instead of waiting (see ``servesKernelFaults``).
/// - Without write-protection (``isWriteTracking`` false: an old kernel or architecture, or turned off)
///   every eviction stores, and a thread writing a page at the moment it is evicted can lose that write:
///   use the region from one thread at a time (faults then never race an eviction).
/// - The budget should leave room for a few pages per thread touching the region at once; one x86
///   instruction can need four pages mapped together (see ``minimumResidentBudget``).
/// - With ``Colocation/pinFaultingThread`` the region changes the CPU affinity of the threads that
///   touch it.
/// - Several regions may share a backend, but each region's frontswap can write back only its own pages:
///   when a shared Zcache is full and its coldest pages belong to another region, writeback waits for
///   that region's next store (and the full Zcache refuses stores meanwhile, which go to swap files).
///
/// Thread safety: the memory may be used from any number of threads. ``statistics`` and
/// ``setResidentBudget(_:)`` may be called from any thread (the region is borrowed); ``close()`` needs it
/// owned, which the compiler enforces.
public struct PagedRegion: ~Copyable {
    /// The smallest budget: 16 pages (64 KiB). One instruction can touch four pages (a string move whose
    /// source and destination each straddle a page boundary), each faulting thread needs its own, and
    /// readahead needs room for a window; below this, faults could evict each other's pages forever.
    public static let minimumResidentBudget = 16 * pageSize

    let handler: FaultHandler

    /// Reserves a region and starts serving its faults.
    ///
    /// - Parameters:
    ///   - size: Bytes to reserve, rounded up to whole pages; any size up to 8 TiB (memory is used only
    ///     for pages touched, 8 bytes of metadata each, and at most the budget for their contents).
    ///   - backend: The transcendent memory behind the region's frontswap area (a ``RAMPool``, a Zcache...).
    ///   - configuration: Budget, victim policy, readahead, write tracking, swap file, trace.
    /// - Throws: ``PagingError``: `isNotPermitted` (with the sysctl, capability or device node to change)
    ///   when userfaultfd is not allowed; `isUnsupported` when the kernel lacks it; `isInvalidArgument`
    ///   for a size or budget out of range; a swap file or trace file that cannot be created.
    public init(size: Int, backend: any Backend, configuration: Configuration = .init()) throws(PagingError) {
        handler = try FaultHandler.make(size: size, backend: backend, configuration: configuration, opener: .kernel)
    }

    /// Reserves a region, opening userfaultfd with `opener` (tests: a kernel that refuses).
    init(size: Int, backend: any Backend, configuration: Configuration, opener: UserfaultfdOpener) throws(PagingError) {
        handler = try FaultHandler.make(size: size, backend: backend, configuration: configuration, opener: opener)
    }

    deinit { handler.shutdown() }

    /// Releases everything the region holds, in every tier: invalidates its frontswap area (transcendent
    /// memory and swap file), removes a temporary swap file, unregisters and unmaps the range, stops the
    /// handler thread and closes the trace. Also done by deinit; this form returns the last counters.
    ///
    /// - Returns: The statistics at close, after the area was invalidated (`frontswap.currPages` is 0).
    /// - Precondition: No thread touches the region any more (see the caveats).
    @discardableResult
    public consuming func close() -> PagingStatistics {
        handler.shutdown()
    }

    /// The region's size in bytes (whole pages).
    public var size: Int { handler.length }

    /// The region's size in pages.
    public var pageCount: Int { handler.pageCount }

    /// The path of the swap file behind the region's frontswap area (``SwapFileLocation/path(_:)``), or
    /// nil when the region was given a backing device (``SwapFileLocation/device(_:)``) or made a
    /// temporary swap file, which is unlinked as soon as it is open (it has no path, and nothing is left
    /// behind however the process ends).
    public var swapFilePath: String? { handler.swapFilePath }

    /// Whether writes are tracked with userfaultfd write-protection (so clean pages are not stored again).
    public var isWriteTracking: Bool { handler.writeProtectActive }

    /// Whether faults taken by the kernel on the region's behalf (a `read(2)` into it) are served. False
    /// only when the process could get userfaultfd only with `UFFD_USER_MODE_ONLY`.
    public var servesKernelFaults: Bool { handler.source != .userModeOnly }

    /// Calls `body` with the region's memory. The pointer is valid only during the call; `body` may hand it
    /// to other threads that finish before it returns.
    ///
    /// - Parameter body: Reads and writes the region.
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws.
    public func withUnsafeMutableBytes<R: ~Copyable, E: Error>(
        _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        try body(UnsafeMutableRawBufferPointer(start: handler.base, count: handler.length))
    }

    /// The resident budget in force, in bytes (whole pages).
    public var residentBudget: Int { handler.budgetPages.load(ordering: .relaxed) * pageSize }

    /// Changes the resident budget while running, and returns once the region fits it (pages beyond a
    /// lowered budget have been evicted by the handler thread).
    ///
    /// - Parameter bytes: The new budget, rounded down to whole pages; at least
    ///   ``minimumResidentBudget``. A budget above the region's size is lowered to it.
    /// - Throws: ``PagingError`` `isInvalidArgument` for a budget below the minimum.
    /// - Complexity: One round trip to the handler thread, plus one eviction per page over the new budget.
    public func setResidentBudget(_ bytes: Int) throws(PagingError) {
        let pages = try Self.budgetPages(forBytes: bytes, pageCount: handler.pageCount)
        handler.setBudget(pages: pages)
    }

    /// A snapshot of the counters (faults by source, evictions, readahead, residency, latency) and of the
    /// region's frontswap area. Each fault is counted before its thread is woken.
    ///
    /// - Complexity: Reads frontswap's per-stripe counters (128 short locks) and two percentiles.
    public var statistics: PagingStatistics { handler.statistics }

    static func budgetPages(forBytes bytes: Int, pageCount: Int) throws(PagingError) -> Int {
        guard bytes >= minimumResidentBudget else {
            throw .invalidArgument(
                "the resident budget must be at least \(minimumResidentBudget) bytes (16 pages), not \(bytes)"
            )
        }
        return min(bytes / pageSize, pageCount)
    }
}
