#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CUserfaultfd
import Histogram
import Synchronization
import Tmem
import TmemFrontswap

/// The engine behind a ``PagedRegion``: its userfaultfd, its frontswap area, the state of every page,
/// and the thread that serves faults.
///
/// ## Implementation Notes
/// - **One thread owns the pages.** Every change of page state, every mapping (UFFDIO_COPY/ZEROPAGE),
///   write-protection and eviction is made by the handler thread, so the page table, the two page lists,
///   the readahead streams and the staging buffer need no lock. Other threads talk to it through
///   `signalFD` (an eventfd: stop, or apply a new budget) and read what it publishes in `shared`.
/// - **Faults.** Each message is served in one round trip: load the page (and its readahead run) from
///   frontswap into the staging buffer, publish the counters, then one UFFDIO_COPY that maps the run and
///   wakes the faulting thread. Room is made ahead: once the messages of a read(2) are served (their
///   threads running again), `reclaimAhead` evicts a batch when less than two are free under the budget,
///   so a fault evicts only when that fell behind (``PagingStatistics/directReclaims``). While faults
///   come fast and the handler is not beside a faulting thread, it busy-polls between them. Two
///   messages for one page (two threads faulting at once) are normal: the second finds the page mapped
///   and only wakes.
/// - **Eviction under concurrent writers.** A dirty victim is write-protected before it is stored, so
///   a thread writing it meanwhile blocks on a WP fault instead of writing into a page that is about to
///   be dropped; that fault's message is served after the drop, as a fault on an evicted page. Clean
///   and zero pages are already write-protected. Without write-protect (a kernel without it, or
///   `writeProtect: false`) this guarantee is gone: see the caveats of ``PagedRegion``.
/// - **Clean pages.** A page loaded for a read is mapped write-protected and its frontswap slot keeps
///   the copy (loads are non-destructive); its first write takes a WP fault, which invalidates the slot
///   and unprotects the page. Evicting a page that was never written since its load drops it.
///
/// Lock ordering: the two locks are never held together. `control` is taken only by threads asking for
/// a budget change (it serialises them; the handler never takes it); `shared` is taken by the handler
/// to publish and by readers of ``statistics``, for a copy, never while calling into frontswap, whose
/// own locks (stripe, then backend) are taken by the handler with neither held.
final class FaultHandler: @unchecked Sendable {
    // @unchecked: three kinds of state, each with its own rule.
    // - Immutable after init (fds, addresses, options): read from any thread.
    // - `shared`, `budgetPages`, `stopping`, `control`: Mutex or Atomic.
    // - Everything else (`pages`, `probation`, `protected`, `streams`, `trace`, `staging`, `messages`, `counts`,
    //   `evictionClock`, `frontswap` mutation): touched only by the handler thread between `start()`
    //   and the join in `shutdown()`, and by `shutdown()` after that join, which happens-after every
    //   access of the thread. `frontswap` is also read (never written) by `statistics` from other
    //   threads; it is only cleared in `shutdown()`, which runs when the region is exclusively owned
    //   (consumed or deinitialised), so no reader can overlap it.

    struct Shared {
        var statistics = PagingStatistics()
        var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .two)
    }

    let uffd: Int32
    let signalFD: Int32
    let ackFD: Int32
    let base: UnsafeMutableRawPointer
    let length: Int
    let pageCount: Int
    let area = SwapArea(0)
    let writeProtectActive: Bool
    let source: UserfaultfdSource
    let policy: PagedRegion.VictimPolicy
    let readaheadMax: Int
    let swapFilePath: String?
    let colocation: PagedRegion.Colocation

    let budgetPages: Atomic<Int>
    let stopping = Atomic<Bool>(false)
    let shared = Mutex(Shared())
    /// Serialises budget requests (one outstanding request, one acknowledgement).
    let control = Mutex(())

    var frontswap: Frontswap?
    /// The reclaimer this region started and stops (nil when it shares one).
    let ownReclaimer: Reclaimer?
    var pages: PageTable
    /// Resident pages on probation (all of them under `.fifo`), oldest first.
    var probation: ResidentQueue
    /// Resident pages that earned protection by faulting back soon after eviction, oldest first.
    var protected: ResidentQueue
    var streams: [ReadaheadStream]
    var streamTick: UInt64 = 0
    var trace: TraceRecorder?
    var counts = PagingStatistics()
    var evictionClock: UInt32 = 0
    /// `readaheadMax + 1` pages, page-aligned: where a fault's run is loaded before one UFFDIO_COPY.
    let staging: UnsafeMutableRawBufferPointer
    /// `readaheadMax + 1` pages of zeros: the source of never-stored pages mapped for a write.
    let zeros: UnsafeMutableRawBufferPointer
    /// Room for `messageBatch` fault messages per read(2).
    let messages: UnsafeMutableRawBufferPointer
    /// Victims of the eviction batch being formed (capacity `maxEvictionBatch`, reused).
    var victims: [Int]
    /// Stores and drops eviction batches: on its own thread with write tracking on, else on this one.
    let evictor: Evictor
    /// Pages of the eviction batch in flight (prepared, not yet settled): still mapped, on no list.
    var inFlightCount = 0
    /// Where the handler thread runs, and whose CPU it follows (see `FaultHandler+Placement.swift`).
    var placement = Placement()
    /// When the last fault message was read, and the average gap between fault messages (nanoseconds).
    var lastFaultAt: UInt64 = 0
    var faultGapAverage: UInt64 = .max / 2
    var thread: pthread_t?
    var isShutDown = false
    var finalStatistics = PagingStatistics()

    /// Messages read per read(2): enough for every thread of a busy program faulting at once.
    static let messageBatch = 64

    init(resources r: consuming RegionResources, pages: consuming PageTable, trace: consuming TraceRecorder?) {
        uffd = r.uffd
        signalFD = r.signalFD
        ackFD = r.ackFD
        base = r.base
        length = r.length
        pageCount = r.pageCount
        writeProtectActive = r.writeProtectActive
        source = r.source
        policy = r.configuration.victimPolicy
        readaheadMax = r.configuration.readaheadMaxPages
        swapFilePath = r.swapFilePath
        colocation = r.colocation
        budgetPages = Atomic(r.budgetPages)
        frontswap = r.frontswap
        ownReclaimer = r.ownReclaimer
        self.pages = pages
        self.trace = trace
        probation = ResidentQueue(capacity: r.budgetPages)
        protected = ResidentQueue(capacity: r.budgetPages)
        streams = Array(repeating: ReadaheadStream(), count: ReadaheadStream.tableSize)
        staging = .allocate(byteCount: (readaheadMax + 1) * pageSize, alignment: pageSize)
        zeros = .allocate(byteCount: (readaheadMax + 1) * pageSize, alignment: pageSize)
        zeros.initializeMemory(as: UInt8.self, repeating: 0)
        messages = .allocate(byteCount: Self.messageBatch * Int(CUserfaultfd_MSG_SIZE), alignment: 16)
        victims = []
        victims.reserveCapacity(Self.maxEvictionBatch)
        evictor = Evictor(frontswap: r.frontswap!, area: area, base: r.base, capacity: Self.maxEvictionBatch)
        counts.residentBudgetPages = r.budgetPages
        shared.withLock { $0.statistics = counts }
    }

    deinit {
        staging.deallocate()
        zeros.deallocate()
        messages.deallocate()
    }

    // MARK: - The thread

    /// Starts the handler thread, and the evictor's when write tracking is on (only a write-protected
    /// page cannot change while another thread stores it).
    func start() throws(PagingError) {
        if writeProtectActive { try evictor.start() }
        let context = Unmanaged.passRetained(ThreadContext(self)).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(
            &tid,
            nil,
            { raw in
                let context = Unmanaged<ThreadContext>.fromOpaque(raw!).takeRetainedValue()
                context.handler.run()
                return nil
            },
            context
        )
        guard rc == 0 else {
            Unmanaged<ThreadContext>.fromOpaque(context).release()
            evictor.stop()
            throw .systemCall("pthread_create of the fault handler", Errno(rc))
        }
        thread = tid
    }

    private final class ThreadContext {
        let handler: FaultHandler
        init(_ handler: FaultHandler) { self.handler = handler }
    }

    /// The handler loop: poll the userfaultfd and the signal eventfd; serve faults; apply budget changes;
    /// return when asked to stop.
    private func run() {
        var fds = (
            pollfd(fd: uffd, events: Int16(POLLIN), revents: 0),
            pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0),
            pollfd(fd: evictor.doneFD, events: Int16(POLLIN), revents: 0)
        )
        let watched: nfds_t = evictor.isRunning ? 3 : 2
        while true {
            let ready = withUnsafeMutableBytes(of: &fds) { raw in
                poll(raw.baseAddress!.assumingMemoryBound(to: pollfd.self), watched, -1)
            }
            if ready < 0 {
                let code = Errno.current
                precondition(code == .interrupted, "poll on the userfaultfd failed: \(code)")
                continue
            }
            if fds.0.revents != 0 {
                drainFaults()
                spinWhileFaultsFlow()
            }
            if fds.2.revents != 0 {
                // A batch the evictor finished: settle it, and post the next if room is still short.
                evictor.clearDoneSignal()
                reclaimAhead()
            }
            if fds.1.revents != 0 {
                var value: UInt64 = 0
                _ = read(signalFD, &value, 8)
                if stopping.load(ordering: .acquiring) {
                    finishEviction()
                    return
                }
                enforceBudget()
                var one: UInt64 = 1
                _ = write(ackFD, &one, 8)
            }
        }
    }

    /// Busy-polls the userfaultfd for up to ``spinWindow`` after the last fault while faults come closer
    /// together than half of it and the handler is not pinned beside a faulting thread (several threads
    /// faulting, or ``PagedRegion/Colocation/none``), yielding the CPU between looks. A handler asleep in
    /// poll(2) must be woken by each fault, and waking an idle CPU of a virtual machine is an exit to
    /// the host: measured on the 2-vCPU development VM with a bare C userfaultfd loop, one thread
    /// faulting through a handler on the other CPU took 23 µs per fault with the handler asleep and
    /// 12.5 µs with it polling, as fast as with both on one CPU. One spell lasts at most
    /// ``spinLimit``, then the handler goes back to poll(2) (with the uffd still readable, at once), so
    /// stop and budget requests wait at most that long.
    private func spinWhileFaultsFlow() {
        guard placement.cpu < 0, faultGapAverage < Self.spinWindow / 2 else { return }
        let started = now()
        var lastFault = started
        while now() &- lastFault < Self.spinWindow && lastFault &- started < Self.spinLimit {
            if drainFaults() > 0 { lastFault = now() } else { sched_yield() }
        }
    }

    /// The longest spell of busy-polling: 1 ms.
    static let spinLimit: UInt64 = 1_000_000

    /// How long the handler busy-polls after a fault (see `spinWhileFaultsFlow`): 100 µs.
    static let spinWindow: UInt64 = 100_000

    /// Reads and serves fault messages until none is waiting; returns how many it read.
    @discardableResult
    private func drainFaults() -> Int {
        let size = Int(CUserfaultfd_MSG_SIZE)
        var served = 0
        while true {
            let n = read(uffd, messages.baseAddress!, messages.count)
            if n < 0 {
                let code = Errno.current
                if code == .interrupted { continue }
                precondition(code == .again, "reading the userfaultfd failed: \(code)")
                return served
            }
            served += n / size
            precondition(n > 0 && n % size == 0, "short read of userfaultfd messages: \(n) bytes")
            for i in 0..<(n / size) {
                let message = messages.load(fromByteOffset: i * size, as: uffd_msg.self)
                guard message.event == CUserfaultfd_EVENT_PAGEFAULT else { continue }
                let start = now()
                // Gaps between faults, averaged over the last few (an exponential average, weight 1/8).
                let gap = min(start &- lastFaultAt, 1_000_000_000)
                faultGapAverage = faultGapAverage - faultGapAverage / 8 + gap / 8
                lastFaultAt = start
                if colocation != .none { follow(thread: message.arg.pagefault.feat.ptid, now: start) }
                serve(flags: message.arg.pagefault.flags, address: message.arg.pagefault.address)
                let elapsed = now() &- start
                shared.withLock { _ = $0.latency.record(min(elapsed, 60_000_000_000)) }
            }
            // Every thread whose message was read is awake again: make room for the next faults now.
            reclaimAhead()
        }
    }

    @inline(__always)
    func now() -> UInt64 { monotonicNanoseconds() }

    /// Copies the handler's counters where other threads read them. Called before the ioctl that wakes a
    /// faulting thread, so that what it reads afterwards includes its own fault.
    @inline(__always)
    func publish() {
        counts.residentPages = residentCount
        counts.peakResidentPages = max(counts.peakResidentPages, residentCount)
        let snapshot = counts
        shared.withLock { $0.statistics = snapshot }
    }

    // MARK: - Requests from other threads

    /// Sets the budget and waits until the handler has evicted down to it.
    func setBudget(pages: Int) {
        control.withLock { _ in
            budgetPages.store(pages, ordering: .releasing)
            var one: UInt64 = 1
            _ = write(signalFD, &one, 8)
            var ack: UInt64 = 0
            while read(ackFD, &ack, 8) < 0 && Errno.current == .interrupted {}
        }
    }

    /// A snapshot of the counters, with the frontswap area's.
    var statistics: PagingStatistics {
        if isShutDown { return finalStatistics }
        var result = shared.withLock { state in
            var s = state.statistics
            s.faultLatencyP50 = .nanoseconds(Int64(state.latency.valueAtPercentile(50)))
            s.faultLatencyP99 = .nanoseconds(Int64(state.latency.valueAtPercentile(99)))
            return s
        }
        if let frontswap, let counters = try? frontswap.counters(of: area) { result.frontswap = counters }
        return result
    }
}
