#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CUserfaultfd
import Synchronization
import Tmem
import TmemFrontswap

/// The costly half of an eviction batch: store the dirty pages (compression, a backend round trip) and
/// drop every page that is safe to drop with one `process_madvise(MADV_DONTNEED)`. The handler picks the
/// victims, write-protects them and fills the job (``FaultHandler/prepareEviction(_:)``); the job runs
/// either on the handler's own thread (``work()``) or on the evictor's thread (``post()``), kswapd's part,
/// while the handler goes on serving faults; the handler then settles it (``FaultHandler/finishEviction()``).
///
/// ## Implementation Notes
/// - **One job at a time, handed over by `phase`.** The job's buffers are written by the handler while
///   the phase is `idle`, read and answered (`stored`) by whichever thread runs the job, and read again by
///   the handler once the phase is `done` (release on each store, acquire on each load). The evictor
///   thread touches nothing else: not the page table, not the lists, not the counters.
/// - **Why the pages are stable meanwhile.** Every victim is write-protected before it is posted, so a
///   thread writing one blocks on a WP fault, which the handler serves only after settling the job.
///   A thread reading one reads the mapped page until it is dropped, then faults; that fault, too, is
///   served after settling, as a fault on an evicted page.
final class Evictor: @unchecked Sendable {
    // @unchecked: the job buffers follow the `phase` hand-over above; `area`, `base` and the fds are
    // immutable once started; `pidFD` is used only by the thread running the job, one at a time;
    // `frontswap` is cleared by `stop()` after the thread was joined.

    /// The region's frontend, released by ``stop()`` (the region's shutdown drops the last reference).
    private var frontswap: Frontswap?
    let area: SwapArea
    /// The region, for the addresses of its pages.
    let base: UnsafeMutableRawPointer
    /// The pages of the job, whether each was dirty (to be stored), and whether each was stored.
    let pages: UnsafeMutablePointer<Int>
    let dirty: UnsafeMutablePointer<Bool>
    let stored: UnsafeMutablePointer<Bool>
    var count = 0
    private let offsets: UnsafeMutablePointer<Int>
    private let sources: UnsafeMutablePointer<UnsafeRawPointer>
    private let results: UnsafeMutablePointer<Result<StoreResult, FrontswapError>>
    private let dropList: UnsafeMutablePointer<iovec>
    /// A pidfd of this process for `process_madvise`, or -1 once the kernel refused it.
    private var pidFD: Int32
    let capacity: Int

    /// `idle` (the handler may fill a job), `posted` (the evictor thread runs it), `done` (settle it).
    let phase = Atomic<Int>(Phase.idle)
    enum Phase {
        static let idle = 0
        static let posted = 1
        static let done = 2
    }
    /// Wakes the evictor thread (a job, or stop). Blocking eventfd.
    private var requestFD: Int32 = -1
    /// Readable when a posted job is done: the handler polls it. Non-blocking eventfd.
    private(set) var doneFD: Int32 = -1
    private let stopping = Atomic<Bool>(false)
    private var thread: pthread_t?

    /// Whether jobs can be posted (the thread runs): false until ``start()`` succeeded.
    var isRunning: Bool { thread != nil }

    init(frontswap: Frontswap, area: SwapArea, base: UnsafeMutableRawPointer, capacity: Int) {
        self.frontswap = frontswap
        self.area = area
        self.base = base
        self.capacity = capacity
        pages = .allocate(capacity: capacity)
        dirty = .allocate(capacity: capacity)
        stored = .allocate(capacity: capacity)
        offsets = .allocate(capacity: capacity)
        sources = .allocate(capacity: capacity)
        results = .allocate(capacity: capacity)
        dropList = .allocate(capacity: capacity)
        pidFD = CUserfaultfd_pidfd_open(getpid())
    }

    // A running thread holds the evictor, so it is released only after `stop()` (the region's shutdown).
    deinit {
        pages.deallocate()
        dirty.deallocate()
        stored.deallocate()
        offsets.deallocate()
        sources.deallocate()
        results.deallocate()
        dropList.deallocate()
        if pidFD >= 0 { close(pidFD) }
        if requestFD >= 0 { close(requestFD) }
        if doneFD >= 0 { close(doneFD) }
    }

    // MARK: - The job

    /// Runs the job: stores its dirty pages with one frontswap batch, then drops every page that is clean
    /// or was stored. `stored[i]` says afterwards whether `pages[i]` may be forgotten (true for pages that
    /// were not dirty); a page whose store failed is left mapped.
    func work() {
        var n = 0
        for i in 0..<count {
            stored[i] = !dirty[i]
            guard dirty[i] else { continue }
            offsets[n] = pages[i]
            sources[n] = UnsafeRawPointer(base + pages[i] << 12)
            (results + n).initialize(to: .success(.tmem))
            n += 1
        }
        if n > 0 {
            do {
                try frontswap!.storeBatch(
                    area, offsets: UnsafeBufferPointer(start: offsets, count: n),
                    pages: UnsafeBufferPointer(start: sources, count: n),
                    results: UnsafeMutableBufferPointer(start: results, count: n))
            } catch {
                preconditionFailure("PagedRegion: its own area rejected an eviction batch: \(error)")
            }
            var j = 0
            for i in 0..<count where dirty[i] {
                if case .success = results[j] { stored[i] = true }
                j += 1
            }
            results.deinitialize(count: n)
        }
        var dropped = 0
        for i in 0..<count where stored[i] {
            dropList[dropped] = iovec(iov_base: base + pages[i] << 12, iov_len: pageSize)
            dropped += 1
        }
        drop(count: dropped)
    }

    /// MADV_DONTNEED over the first `count` ranges of `dropList`.
    private func drop(count: Int) {
        guard count > 0 else { return }
        if pidFD >= 0 {
            let advised = CUserfaultfd_process_madvise(pidFD, dropList, UInt(count), MADV_DONTNEED)
            if advised == count * pageSize { return }
            // Older kernels refuse MADV_DONTNEED through process_madvise (EINVAL): drop page by page, now
            // and from now on. (Advising again a page already dropped is harmless.)
            if advised < 0 {
                close(pidFD)
                pidFD = -1
            }
        }
        for i in 0..<count where madvise(dropList[i].iov_base, pageSize, MADV_DONTNEED) != 0 {
            fatalError("PagedRegion: madvise(MADV_DONTNEED) of \(dropList[i].iov_base!) failed: \(Errno.current)")
        }
    }

    // MARK: - The thread

    /// Starts the evictor thread and its eventfds.
    func start() throws(PagingError) {
        requestFD = CUserfaultfd_eventfd(0, CUserfaultfd_EFD_CLOEXEC)
        doneFD = CUserfaultfd_eventfd(0, CUserfaultfd_EFD_CLOEXEC | CUserfaultfd_EFD_NONBLOCK)
        guard requestFD >= 0, doneFD >= 0 else { throw .systemCall("eventfd for the evictor", .current) }
        let context = Unmanaged.passRetained(self).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(
            &tid, nil,
            { raw in
                Unmanaged<Evictor>.fromOpaque(raw!).takeRetainedValue().run()
                return nil
            }, context)
        guard rc == 0 else {
            Unmanaged<Evictor>.fromOpaque(context).release()
            throw .systemCall("pthread_create of the evictor", Errno(rc))
        }
        thread = tid
    }

    /// Hands the filled job to the evictor thread.
    func post() {
        precondition(isRunning && phase.load(ordering: .relaxed) == Phase.idle, "PagedRegion: an eviction job is already posted")
        phase.store(Phase.posted, ordering: .releasing)
        var one: UInt64 = 1
        _ = write(requestFD, &one, 8)
    }

    /// Whether the posted job is done (without waiting).
    var isDone: Bool { phase.load(ordering: .acquiring) == Phase.done }

    /// Waits until the posted job is done, then clears the done signal. (A signal left over from a job
    /// settled without waiting is cleared on the way, so the poll does not return at once again.)
    func waitDone() {
        while phase.load(ordering: .acquiring) != Phase.done {
            var fd = pollfd(fd: doneFD, events: Int16(POLLIN), revents: 0)
            _ = poll(&fd, 1, -1)
            clearDoneSignal()
        }
        clearDoneSignal()
    }

    /// Reads the done eventfd (harmless when it was not signalled).
    func clearDoneSignal() {
        guard doneFD >= 0 else { return }
        var value: UInt64 = 0
        _ = read(doneFD, &value, 8)
    }

    /// Marks the settled job's buffers free for the next.
    func reset() {
        count = 0
        phase.store(Phase.idle, ordering: .releasing)
    }

    /// Stops and joins the thread, if it runs (no job may be posted), and releases the frontend.
    /// Idempotent; no job may run afterwards.
    func stop() {
        if let thread {
            stopping.store(true, ordering: .releasing)
            var one: UInt64 = 1
            _ = write(requestFD, &one, 8)
            pthread_join(thread, nil)
            self.thread = nil
        }
        frontswap = nil
    }

    private func run() {
        while true {
            var value: UInt64 = 0
            let n = read(requestFD, &value, 8)
            if n < 0 {
                precondition(Errno.current == .interrupted, "reading the evictor's eventfd failed: \(Errno.current)")
                continue
            }
            if stopping.load(ordering: .acquiring) { return }
            guard phase.load(ordering: .acquiring) == Phase.posted else { continue }
            work()
            phase.store(Phase.done, ordering: .releasing)
            var one: UInt64 = 1
            _ = write(doneFD, &one, 8)
        }
    }
}
