#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CUserfaultfd
import Tmem
import TmemFrontswap
import TmemSwapFile

/// Everything a region acquires before its handler starts, gathered so that a failure half-way releases
/// exactly what was acquired (`release()`), and success hands it all to the handler.
struct RegionResources {
    var configuration: PagedRegion.Configuration
    var pageCount = 0
    var budgetPages = 0
    var uffd: Int32 = -1
    var source = UserfaultfdSource.systemCall
    var base = UnsafeMutableRawPointer(bitPattern: 1)!
    var length = 0
    var mapped = false
    var registered = false
    var writeProtectActive = false
    var signalFD: Int32 = -1
    var ackFD: Int32 = -1
    var swapFilePath: String?
    var colocation = PagedRegion.Colocation.none
    var frontswap: Frontswap?
    /// The reclaimer the region started for itself (none when the configuration brought one).
    var ownReclaimer: Reclaimer?

    /// Undoes what was done, in reverse.
    func release() {
        ownReclaimer?.stop()
        if let frontswap { _ = try? frontswap.invalidateArea(SwapArea(0)) }
        if ackFD >= 0 { close(ackFD) }
        if signalFD >= 0 { close(signalFD) }
        if registered { _ = Userfaultfd.unregister(uffd, base, length) }
        if mapped { munmap(base, length) }
        if uffd >= 0 { close(uffd) }
    }
}

extension FaultHandler {
    /// Reserves, registers and wires up a region; nothing is left behind if it throws.
    static func make(
        size: Int,
        backend: any Backend,
        configuration: PagedRegion.Configuration,
        opener: UserfaultfdOpener
    ) throws(PagingError) -> FaultHandler {
        guard size > 0 else { throw .invalidArgument("a paged region has at least one byte, not \(size)") }
        let pageCount = (size + pageSize - 1) / pageSize
        guard pageCount <= Int(Int32.max) else {
            throw .invalidArgument("a paged region has at most \(Int32.max) pages (8 TiB), not \(pageCount)")
        }
        guard configuration.readaheadMaxPages >= 0, configuration.readaheadMaxPages <= 1024 else {
            throw .invalidArgument("readaheadMaxPages must be 0...1024, not \(configuration.readaheadMaxPages)")
        }
        var r = RegionResources(configuration: configuration)
        r.pageCount = pageCount
        r.budgetPages = try PagedRegion.budgetPages(forBytes: configuration.residentBudget, pageCount: pageCount)
        var succeeded = false
        defer { if !succeeded { r.release() } }

        (r.uffd, r.source) = try opener.openFirstAllowed()
        // Fault messages carry the faulting thread's id only if asked (Linux 4.14+); the handshake happens
        // once per userfaultfd, so a kernel that refuses the feature costs a second one without it.
        let features: UInt64
        r.colocation = configuration.colocation
        switch Userfaultfd.handshake(r.uffd, features: r.colocation != .none ? CUserfaultfd_FEATURE_THREAD_ID : 0) {
        case .success(let offered):
            features = offered
        case .failure(let error) where r.colocation != .none && error == .invalidArgument:
            close(r.uffd)
            r.uffd = -1
            r.colocation = .none
            (r.uffd, r.source) = try opener.openFirstAllowed()
            switch Userfaultfd.handshake(r.uffd, features: 0) {
            case .success(let offered): features = offered
            case .failure(let error): throw .unsupported("UFFDIO_API handshake refused", error)
            }
        case .failure(let error):
            throw .unsupported("UFFDIO_API handshake refused", error)
        }

        r.length = pageCount * pageSize
        guard
            let mapped = mmap(
                nil,
                r.length,
                PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                -1,
                0
            ),
            mapped != MAP_FAILED
        else { throw .systemCall("mmap of \(r.length) bytes", .current) }
        r.base = mapped
        r.mapped = true
        // Pages come and go one at a time: a transparent huge page would be split at the first eviction.
        // A child process would see none of our pages (the userfaultfd is not inherited): give it none.
        _ = madvise(mapped, r.length, MADV_NOHUGEPAGE)
        _ = madvise(mapped, r.length, MADV_DONTFORK)

        let wantWP = configuration.writeProtect && features & CUserfaultfd_FEATURE_PAGEFAULT_FLAG_WP != 0
        var mode = CUserfaultfd_REGISTER_MODE_MISSING | (wantWP ? CUserfaultfd_REGISTER_MODE_WP : 0)
        var ioctls: UInt64
        switch Userfaultfd.register(r.uffd, mapped, r.length, mode: mode) {
        case .success(let offered): ioctls = offered
        case .failure(let error) where wantWP && error == .invalidArgument:
            // Write-protect of anonymous memory is missing on this architecture or kernel: page without it.
            mode = CUserfaultfd_REGISTER_MODE_MISSING
            switch Userfaultfd.register(r.uffd, mapped, r.length, mode: mode) {
            case .success(let offered): ioctls = offered
            case .failure(let error): throw .unsupported("UFFDIO_REGISTER of the region refused", error)
            }
        case .failure(let error): throw .unsupported("UFFDIO_REGISTER of the region refused", error)
        }
        r.registered = true
        let needed = CUserfaultfd_IOCTL_BIT_COPY | CUserfaultfd_IOCTL_BIT_ZEROPAGE
        guard ioctls & needed == needed else {
            throw .unsupported("the kernel offers no UFFDIO_COPY/ZEROPAGE on anonymous memory", .notSupported)
        }
        r.writeProtectActive =
            mode & CUserfaultfd_REGISTER_MODE_WP != 0 && ioctls & CUserfaultfd_IOCTL_BIT_WRITEPROTECT != 0

        switch valueOrErrno({ CUserfaultfd_eventfd(0, CUserfaultfd_EFD_CLOEXEC) }) {
        case .success(let fd): r.signalFD = fd
        case .failure(let error): throw .systemCall("eventfd", error)
        }
        switch valueOrErrno({ CUserfaultfd_eventfd(0, CUserfaultfd_EFD_CLOEXEC) }) {
        case .success(let fd): r.ackFD = fd
        case .failure(let error): throw .systemCall("eventfd", error)
        }

        let device: any BackingDevice
        switch configuration.swapFile {
        case .device(let given):
            device = given
        case .path(let path):
            r.swapFilePath = path
            device = try openSwapFile(path, pages: pageCount, directIO: configuration.swapFileDirectIO)
        case .temporary(let directory):
            // A file without a name (unlinked at once): it lives only as long as its descriptor, so no end
            // of the process (SIGKILL included) can leave it behind.
            do {
                device = try SwapFile.temporary(
                    in: directory ?? environmentValue("TMPDIR") ?? "/tmp", slots: pageCount,
                    directIO: configuration.swapFileDirectIO)
            } catch {
                throw .swapFile(error.message, errno: error.errno)
            }
        }
        let reclaimer: Reclaimer
        if let shared = configuration.reclaimer {
            guard shared.backend === backend else {
                throw .invalidArgument("the configuration's reclaimer serves another backend")
            }
            reclaimer = shared
        } else {
            reclaimer = Reclaimer(backend: backend)
            do throws(TmemError) { try reclaimer.start() } catch {
                throw .frontswap("cannot start the region's reclaimer: \(error.message)")
            }
            r.ownReclaimer = reclaimer
        }
        let frontswap = Frontswap(backend: backend, configuration: .init(maxAreas: 1), reclaimer: reclaimer)
        do {
            try frontswap.initArea(SwapArea(0), pages: pageCount, device: device)
        } catch {
            throw .frontswap("cannot set up the region's frontswap area: \(error.message)")
        }
        r.frontswap = frontswap

        var trace: TraceRecorder?
        if let path = configuration.recordTrace {
            trace = try TraceRecorder(path: path)
            trace?.initArea(0, pages: pageCount)
        }
        let table = try PageTable(count: pageCount)
        let handler = FaultHandler(resources: r, pages: table, trace: trace)
        try handler.start()
        succeeded = true
        return handler
    }

    /// Stops the thread and releases every tier: the frontswap area's pages (transcendent memory and
    /// the swap file), the swap file itself if temporary, the registration, the mapping and the fds.
    /// Idempotent; called only with the region exclusively owned (its close or deinit).
    ///
    /// - Returns: The last statistics, taken after the area was invalidated.
    @discardableResult
    func shutdown() -> PagingStatistics {
        if isShutDown { return finalStatistics }
        stopping.store(true, ordering: .releasing)
        var one: UInt64 = 1
        _ = write(signalFD, &one, 8)
        if let thread { pthread_join(thread, nil) }
        thread = nil
        // The handler settled any batch in flight before it returned.
        evictor.stop()
        ownReclaimer?.stop()

        _ = try? frontswap?.invalidateArea(area)
        trace?.invalidateArea(area.rawValue)
        trace?.finish()
        var last = statistics
        last.traceFailure = trace?.failure
        finalStatistics = last
        trace = nil

        _ = Userfaultfd.unregister(uffd, base, length)
        munmap(base, length)
        close(uffd)
        close(signalFD)
        close(ackFD)
        // The last reference to the frontend: its pool is destroyed and the swap file's fd closed.
        frontswap = nil
        isShutDown = true
        return finalStatistics
    }

    private static func openSwapFile(_ path: String, pages: Int, directIO: Bool) throws(PagingError) -> SwapFile {
        do {
            return try SwapFile(path: path, slots: pages, options: .init(directIO: directIO))
        } catch {
            throw .swapFile(error.message, errno: error.errno)
        }
    }
}
