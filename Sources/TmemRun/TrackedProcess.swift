#if canImport(Glibc)
import Glibc
#endif
import CTmemRun
import Synchronization

/// One address space (mm) the monitor pages: a program image after exec, or a forked child. It owns the
/// mm's userfaultfd (the monitor's copy), the socket to the library's helper thread, and the page table;
/// everything mutable is under one lock, which the mm's reader thread holds while it handles a message and
/// the reclaimer holds while it starts or finishes a batch.
final class TrackedProcess: @unchecked Sendable {
    /// The token a forked child names itself with (read from its id page); unique within the monitor.
    let id: UInt64
    /// The monitor's descriptor of this mm's userfaultfd.
    let uffd: Int32
    /// The library's areas (the same addresses in a forked child as in its parent).
    let scratch: UInt64
    let scratchPages: Int
    let idPage: UInt64
    let stack: UInt64
    let stackLength: UInt64
    /// Written to wake the reader: the batch finished, the process was ended, or its pid became known.
    let wakeFD: Int32
    /// A page-aligned buffer for the reader's fills (one readahead run), used only under the lock.
    let fillBuffer: UnsafeMutableRawBufferPointer

    /// Everything the lock protects.
    struct Guarded {
        var pages = ProcessPages()
        /// 0 until a forked child says hello.
        var pid: Int32 = 0
        /// The helper thread's socket (-1 until a forked child says hello).
        var helper: Int32 = -1
        /// Polls readable when the process exits (-1 until the pid is known).
        var pidFD: Int32 = -1
        /// Ended: exited, exec'd, or killed by the monitor. No more service.
        var ended = false
        /// Its pages released and it left the monitor's table (after `ended`).
        var retired = false
        /// The kernel gives this mm no FORK events (forks are prepared instead).
        var noForkEvents = false
        /// Ranges UFFDIO_REGISTER refused (another userfaultfd has them, or the kernel cannot): not paged,
        /// not tried again.
        var refused = AddressRanges()
        /// When each waiting fault was first read (for the latency histogram).
        var waitingSince: [UInt64: UInt64] = [:]
        /// A deferred fault got EAGAIN (the program's mappings were changing): the reader retries it
        /// within a millisecond even if no message comes, since the kernel ends `mmap_changing` only when
        /// the program's thread wakes after its event was read, which can be after the reader looked.
        var retryAfterChange = false
        /// Until when (monotonic ns) the reclaimer passes this process over: its last batch was refused
        /// whole (pages shared copy-on-write with a forked child, which stay so until one of them writes).
        var refusedUntil: UInt64 = 0
        var readahead = Readahead()
    }

    let state: Mutex<Guarded>

    init(id: UInt64, uffd: Int32, hello: tmem_run_hello) throws(RunError) {
        self.id = id
        self.uffd = uffd
        scratch = hello.scratch
        scratchPages = Int(hello.scratch_pages)
        idPage = hello.id_page
        stack = hello.stack
        stackLength = hello.stack_len
        let fd = tmem_run_eventfd()
        guard fd >= 0 else { throw .setup("cannot make an eventfd: \(String(cString: strerror(errno)))") }
        wakeFD = fd
        fillBuffer = .allocate(byteCount: RunMonitor.readaheadPages * 4096, alignment: 4096)
        state = Mutex(Guarded())
    }

    deinit {
        close(uffd)
        close(wakeFD)
        state.withLock { g in
            if g.helper >= 0 { close(g.helper) }
            if g.pidFD >= 0 { close(g.pidFD) }
        }
        fillBuffer.deallocate()
    }

    /// Wakes the reader (it re-reads the state).
    func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    /// Empties the wake counter.
    func drainWake() {
        var value: UInt64 = 0
        _ = read(wakeFD, &value, 8)
    }

    /// Whether `address` is in the library's own areas (never paged).
    func isLibraryArea(_ address: UInt64) -> Bool {
        (address >= scratch && address < scratch + UInt64(scratchPages) * 4096)
            || (address >= idPage && address < idPage + 4096)
            || (address >= stack && address < stack + stackLength)
    }
}

/// A process's sequential-access detector: a fault just after the last run served doubles the window (up
/// to the largest run), any other fault starts again from one page.
struct Readahead {
    private var next: UInt64 = 0
    private var window = 1

    /// The run length to serve for a fault on `page`.
    mutating func window(for page: UInt64) -> Int {
        window = page == next ? min(window * 2, 1 << 10) : 1
        return window
    }

    /// Records the run served.
    mutating func served(_ page: UInt64, count: Int) { next = page + UInt64(count) }
}
