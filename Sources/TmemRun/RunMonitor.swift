#if canImport(Glibc)
import Glibc
#endif
import CTmemRun
import Synchronization
import Tmem

/// How `tmem run` pages a program.
public struct RunConfiguration: Sendable {
    /// The most resident memory of the whole process tree, in bytes.
    public var budgetBytes: Int
    /// Private anonymous mappings at least this large are paged (glibc's default mmap threshold).
    public var thresholdBytes: Int
    /// The swap file's size in pages (sparse).
    public var swapSlots: Int
    /// The swap file's path; nil: a file with no name in `swapDirectory` ($TMPDIR or /tmp).
    public var swapFile: String?
    public var swapDirectory: String?
    /// Ask the kernel for FORK events (needs CAP_SYS_PTRACE); false behaves as a process without it
    /// (forks are prepared by bringing every page back, and the child runs unpaged).
    public var forkEvents: Bool
    /// How often the reclaimer reads the processes' maps (new mappings) and resident sizes.
    public var scanIntervalNanoseconds: UInt64

    /// Creates a configuration.
    public init(
        budgetBytes: Int, thresholdBytes: Int = 128 << 10, swapSlots: Int = 1 << 22, swapFile: String? = nil,
        swapDirectory: String? = nil, forkEvents: Bool = true, scanIntervalNanoseconds: UInt64 = 10_000_000
    ) {
        self.budgetBytes = budgetBytes
        self.thresholdBytes = thresholdBytes
        self.swapSlots = swapSlots
        self.swapFile = swapFile
        self.swapDirectory = swapDirectory
        self.forkEvents = forkEvents
        self.scanIntervalNanoseconds = scanIntervalNanoseconds
    }
}

/// The monitor of `tmem run` (docs/RUN.md): it listens for the preload library's hellos, holds every
/// process's userfaultfd, serves their faults from its page store, and evicts their cold pages through
/// the library's helper threads to keep the process tree within the budget.
///
/// Threads: one listener, one reader per process (each message handled, under the process's lock, before
/// the next is read), one reclaimer (batches, new mappings, resident sizes, the budget).
final class RunMonitor: @unchecked Sendable {
    let configuration: RunConfiguration
    let store: PageStore
    let counters = RunCounters()
    /// Paged pages resident now, over every process.
    let resident = Atomic<Int>(0)
    /// What of the budget paged pages may use now (pages).
    let limit: Atomic<Int>
    /// Set by a reader whose fault waits for room; cleared by the reclaimer when it served them.
    let roomWanted = Atomic<Bool>(false)
    let stopping = Atomic<Bool>(false)
    /// Set while the reclaimer evicts (or has been woken to): readers past the high watermark wake it once.
    let reclaiming = Atomic<Bool>(false)
    /// The abstract socket's name, "@..." (what $TMEM_RUN_SOCKET says).
    let socketName: String
    let listener: Int32
    /// Wakes the listener and the reclaimer.
    let stopFD: Int32
    let reclaimWakeFD: Int32
    /// Zeros for one readahead run.
    let zeroPages: UnsafeMutableRawBufferPointer
    let processes = Mutex<[UInt64: TrackedProcess]>([:])
    let threads = Mutex<[pthread_t]>([])
    let nextID = Atomic<UInt64>(1)
    let batchPages = Int(TMEM_RUN_BATCH)
    /// The reclaimer's buffer for one batch's pages.
    let batchBuffer: UnsafeMutableRawBufferPointer
    /// Called with a message when a process is killed (it must not run on with wrong bytes).
    let report: @Sendable (String) -> Void
    /// Called on the reclaimer thread every `nanoseconds` with the statistics (`--stats-every`).
    let interval: (nanoseconds: UInt64, call: @Sendable (RunStatistics) -> Void)?
    /// The backend's memory and the bytes it holds before and after compression.
    let backendUsage: @Sendable () -> (pool: Int, original: Int, compressed: Int)
    /// Sampled at each scan: the peak pool memory, and the last sample that held pages (for the ratio).
    let usage = Mutex((peakPool: 0, original: 0, compressed: 0))

    init(
        configuration: RunConfiguration, store: PageStore,
        interval: (nanoseconds: UInt64, call: @Sendable (RunStatistics) -> Void)?,
        backendUsage: @escaping @Sendable () -> (pool: Int, original: Int, compressed: Int),
        report: @escaping @Sendable (String) -> Void
    ) throws(RunError) {
        self.configuration = configuration
        self.backendUsage = backendUsage
        self.store = store
        self.report = report
        self.interval = interval
        batchBuffer = .allocate(byteCount: Int(TMEM_RUN_BATCH) * 4096, alignment: 4096)
        limit = Atomic(max(configuration.budgetBytes / 4096, 2 * Int(TMEM_RUN_BATCH)))
        socketName = "@tmem-run-\(getpid())-\(String(tmem_run_random64(), radix: 36))"
        let listener = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        self.listener = listener
        guard listener >= 0 else { throw .setup("cannot make the monitor's socket: \(describeErrno(errno))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let name = Array(socketName.utf8.dropFirst())
        withUnsafeMutableBytes(of: &address.sun_path) { path in
            path[0] = 0
            for (i, byte) in name.enumerated() { path[i + 1] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + 1 + name.count)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) }
        }
        guard bound == 0, Glibc.listen(listener, 64) == 0 else {
            let code = errno
            close(listener)
            throw .setup("cannot listen on the monitor's socket: \(describeErrno(code))")
        }
        stopFD = tmem_run_eventfd()
        reclaimWakeFD = tmem_run_eventfd()
        zeroPages = .allocate(byteCount: Self.readaheadPages * 4096, alignment: 4096)
        zeroPages.initializeMemory(as: UInt8.self, repeating: 0)
    }

    deinit {
        close(listener)
        close(stopFD)
        close(reclaimWakeFD)
        zeroPages.deallocate()
        batchBuffer.deallocate()
    }

    /// Starts the listener and the reclaimer.
    func start() throws(RunError) {
        try spawn { $0.listenLoop() }
        try spawn { $0.reclaimLoop() }
    }

    /// Stops every thread (the program tree has ended) and ends every process still known.
    func stop() {
        stopping.store(true, ordering: .releasing)
        signal(stopFD)
        signal(reclaimWakeFD)
        for process in processes.withLock({ Array($0.values) }) { end(process, reason: nil) }
        while let thread = threads.withLock({ $0.popLast() }) { pthread_join(thread, nil) }
    }

    /// Samples the backend's usage (each scan).
    func sampleBackend() {
        let now = backendUsage()
        usage.withLock {
            $0.peakPool = max($0.peakPool, now.pool)
            if now.original > 0 {
                $0.original = now.original
                $0.compressed = now.compressed
            }
        }
    }

    /// A snapshot of the statistics.
    func statistics() -> RunStatistics {
        var s = counters.snapshot()
        s.budgetBytes = configuration.budgetBytes
        s.pagedLimitBytes = limit.load(ordering: .relaxed) * 4096
        s.residentPages = resident.load(ordering: .relaxed)
        s.storedPages = store.slotsInUse
        let frontswap = store.counters
        s.diskReads = frontswap.diskLoads
        s.diskWrites = s.evictionsToDisk + frontswap.repatriatedPages
        usage.withLock {
            s.poolBytes = $0.peakPool
            s.originalBytes = $0.original
            s.compressedBytes = $0.compressed
        }
        return s
    }

    // MARK: - Processes

    /// Ends a process's service: its pages are forgotten and its slots released. With a `reason`, the
    /// process is killed first (it must not run on with pages that cannot come back), and the reason
    /// printed.
    func end(_ process: TrackedProcess, reason: String?) {
        let (slots, pid) = process.state.withLock { g -> ([Int], Int32) in
            guard !g.retired else { return ([], 0) }
            g.retired = true
            g.ended = true
            if g.helper >= 0 { shutdown(g.helper, Int32(SHUT_RDWR)) }
            let slots = g.pages.clear()
            resident.wrappingAdd(g.pages.takeResidentDelta(), ordering: .relaxed)
            return (slots, g.pid)
        }
        if let reason, pid > 0 {
            Glibc.kill(pid, SIGKILL)
            report("tmem run: killed pid \(pid): \(reason)")
        }
        store.release(slots)
        processes.withLock { _ = $0.removeValue(forKey: process.id) }
        process.wake()
    }

    func add(_ process: TrackedProcess) throws(RunError) {
        processes.withLock { $0[process.id] = process }
        try spawn { $0.readLoop(process) }
    }

    // MARK: - Threads and small calls

    private final class ThreadBody {
        let monitor: RunMonitor
        let body: (RunMonitor) -> Void
        init(_ monitor: RunMonitor, _ body: @escaping (RunMonitor) -> Void) {
            self.monitor = monitor
            self.body = body
        }
    }

    func spawn(_ body: @escaping (RunMonitor) -> Void) throws(RunError) {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(ThreadBody(self, body)).toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            let box = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
            box.body(box.monitor)
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<ThreadBody>.fromOpaque(context).release()
            throw .setup("cannot start a monitor thread: \(describeErrno(rc))")
        }
        threads.withLock { $0.append(thread) }
    }

    func signal(_ fd: Int32) {
        var one: UInt64 = 1
        _ = write(fd, &one, 8)
    }


    static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}
