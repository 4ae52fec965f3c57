#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CUserfaultfd
import Tmem
import TmemFrontswap

extension FaultHandler {
    /// Serves one fault message. Handler thread only.
    func serve(flags: UInt64, address: UInt64) {
        let offset = Int(truncatingIfNeeded: address) &- Int(bitPattern: base)
        guard offset >= 0, offset < length else { return }  // not ours: we registered only the region
        let page = offset >> 12
        // A page of the batch the evictor is storing or dropping: settle the batch first, then serve the
        // fault by what the page has become (evicted, or back on a list if its store failed).
        if pages[page].flags & PageMeta.evicting != 0 { finishEviction() }
        if flags & CUserfaultfd_PAGEFAULT_FLAG_WP != 0 {
            writeProtectFault(page)
        } else {
            missingFault(page, write: flags & CUserfaultfd_PAGEFAULT_FLAG_WRITE != 0)
        }
    }

    @inline(__always)
    func address(_ page: Int) -> UnsafeMutableRawPointer { base + page << 12 }

    // MARK: - Fault kinds

    /// A fault on a page with no mapping.
    private func missingFault(_ page: Int, write: Bool) {
        switch pages.state(page) {
        case .zero, .clean, .dirty:
            // Mapped since the fault was raised (another thread's fault on the same page): let it retry.
            wake(page, count: 1)
        case .missing:
            zeroFill(page, write: write)
        case .evicted:
            majorFault(page, write: write)
        }
    }

    /// The first write to a write-protected page since it was mapped.
    private func writeProtectFault(_ page: Int) {
        switch pages.state(page) {
        case .clean:
            // The slot's copy is about to be stale: drop it now (frees transcendent memory; the next
            // eviction stores the new bytes).
            invalidateSlot(page)
            fallthrough
        case .zero:
            pages.setState(page, .dirty)
            pages[page].flags |= PageMeta.referenced
            counts.writeProtectFaults += 1
            publish()
            check(Userfaultfd.writeProtect(uffd, address(page), pageSize, protect: false), "un-write-protect")
        case .dirty:
            // Already unprotected for another thread's write; that woke this one too, or this wakes it.
            wake(page, count: 1)
        case .missing, .evicted:
            // Evicted while the writer waited (the eviction write-protects a dirty page first): it is now a
            // missing page to bring back, writable.
            missingFault(page, write: true)
        }
    }

    /// A never-stored page. For a read: the shared zero page (no memory used), write-protected so that a
    /// later write is seen. For a write: a page copied from zeros, mapped writable, which spares the
    /// writer the copy-on-write fault the zero page would take next.
    ///
    /// UFFDIO_ZEROPAGE has no write-protect mode, so the zero page is mapped without waking anyone, then
    /// write-protected, then checked: another thread (not blocked on this fault) may have written the
    /// page in between, through the kernel's copy-on-write, which userfaultfd does not report. A page
    /// still all zeros after the protection is a clean zero page whatever happened; one that is not is
    /// dirty.
    private func zeroFill(_ page: Int, write: Bool) {
        if write {
            zeroFillForWrite(page)
            return
        }
        readaheadRun(page, gathering: nil)
        makeRoom(1)
        probation.append(page)
        var meta = pages[page]
        meta.flags = 0
        let tracked = writeProtectActive
        meta.state = tracked ? PageState.zero.rawValue : PageState.dirty.rawValue
        pages[page] = meta
        counts.zeroFillFaults += 1
        publish()
        if tracked {
            retrying("UFFDIO_ZEROPAGE") {
                Userfaultfd.zeroPage(uffd, address(page), pageSize, mode: CUserfaultfd_ZEROPAGE_MODE_DONTWAKE)
            }
            check(Userfaultfd.writeProtect(uffd, address(page), pageSize, protect: true), "write-protect")
            if sameFilledWord(UnsafeRawBufferPointer(start: address(page), count: pageSize)) != 0 {
                pages.setState(page, .dirty)
                check(Userfaultfd.writeProtect(uffd, address(page), pageSize, protect: false), "un-write-protect")
            }
            wake(page, count: 1)
        } else {
            retrying("UFFDIO_ZEROPAGE") { Userfaultfd.zeroPage(uffd, address(page), pageSize, mode: 0) }
        }
    }

    /// A write to a never-stored page: the page, and the never-stored pages a sequential writer is about
    /// to reach (its readahead run over missing pages), mapped writable from zeros in one UFFDIO_COPY,
    /// which spares the writer the copy-on-write fault a zero page would take next, and a fault per page.
    /// The neighbours are dirty (mapped writable, so any write to them is unseen) and prefetched: one
    /// evicted unwritten is stored as a zero page (frontswap backends keep those as a flag).
    private func zeroFillForWrite(_ page: Int) {
        let run = readaheadRun(page, gathering: .missing)
        makeRoom(run.count)
        for other in run {
            var meta = pages[other]
            meta.flags = other == page ? 0 : PageMeta.prefetched | (policy == .segmented ? PageMeta.grace : 0)
            meta.state = PageState.dirty.rawValue
            pages[other] = meta
            probation.append(other)
            if other != page { counts.prefetchedPages += 1 }
        }
        counts.zeroFillFaults += 1
        publish()
        copy(to: run.lowerBound, from: UnsafeRawPointer(zeros.baseAddress!), count: run.count, mode: 0)
    }

    /// An evicted page: load it and its readahead run from frontswap, map them in one UFFDIO_COPY.
    private func majorFault(_ page: Int, write: Bool) {
        let wanted = readaheadRun(page)
        makeRoom(wanted.count)
        guard let run = loadRun(wanted, faulting: page) else { return }
        // Bookkeeping first (all of it before the wake-up, so the woken thread sees its fault counted).
        let budget = budgetPages.load(ordering: .relaxed)
        for other in run {
            var meta = pages[other]
            if other == page {
                // The refault test: evicted fewer than a budget's worth of evictions ago, so under LRU a
                // little more memory would have kept it (it is part of the working set).
                let distance = Int(evictionClock &- meta.evictedAt)
                meta.flags = policy == .segmented && distance <= budget ? PageMeta.protected : 0
                if meta.flags != 0 { counts.refaultActivations += 1 }
            } else {
                // One pass of grace at the probation head: the reader is on its way.
                meta.flags = PageMeta.prefetched | (policy == .segmented ? PageMeta.grace : 0)
                counts.prefetchedPages += 1
            }
            let dirty = !writeProtectActive || (write && other == page)
            meta.state = dirty ? PageState.dirty.rawValue : PageState.clean.rawValue
            pages[other] = meta
            if meta.flags & PageMeta.protected != 0 { protected.append(other) } else { probation.append(other) }
            // A dirty page's slot is stale as soon as it is written: free it now.
            if dirty { invalidateSlot(other) }
        }
        publish()
        if writeProtectActive && write {
            // Neighbours write-protected, without waking; then the faulting page writable, which wakes.
            if page > run.lowerBound {
                copy(from: run.lowerBound, count: page - run.lowerBound, run: run, mode: wpNoWake)
            }
            if page < run.upperBound { copy(from: page + 1, count: run.upperBound - page, run: run, mode: wpNoWake) }
            copy(from: page, count: 1, run: run, mode: 0)
        } else {
            copy(
                from: run.lowerBound,
                count: run.count,
                run: run,
                mode: writeProtectActive ? CUserfaultfd_COPY_MODE_WP : 0
            )
        }
    }

    private var wpNoWake: UInt64 { CUserfaultfd_COPY_MODE_WP | CUserfaultfd_COPY_MODE_DONTWAKE }

    // MARK: - Frontswap

    /// How often a load that frontswap could not serve *now* (a backend that did not answer) is tried
    /// again before the page counts as lost, and the first pause (doubling: 1 + 2 + ... + 32 ms).
    static let loadRetries = 6
    static let firstRetryPauseMicroseconds: UInt32 = 1000

    /// Loads a fault's run into the staging buffer with one frontswap batch (one backend round trip),
    /// retrying pages the backend could not serve now.
    ///
    /// - Returns: The part of the run that came back, contiguous around `page`; nil when `page` itself
    ///   could not be brought back, in which case its faulting access fails with SIGBUS (UFFDIO_POISON),
    ///   as the kernel fails an access to a page it cannot read back from swap. Nothing is mapped wrong.
    private func loadRun(_ run: ClosedRange<Int>, faulting page: Int) -> ClosedRange<Int>? {
        var lowest = run.lowerBound
        var highest = run.upperBound
        var lost: FrontswapError?
        withUnsafeTemporaryAllocation(of: Int.self, capacity: run.count) { offsets in
            withUnsafeTemporaryAllocation(of: UnsafeMutableRawPointer.self, capacity: run.count) { buffers in
                withUnsafeTemporaryAllocation(of: Result<LoadResult, FrontswapError>.self, capacity: run.count) { results in
                    for (i, other) in run.enumerated() {
                        trace?.load(area.rawValue, offset: other)
                        offsets.initializeElement(at: i, to: other)
                        buffers.initializeElement(at: i, to: staging.baseAddress! + i * pageSize)
                        results.initializeElement(at: i, to: .success(.notStored))
                    }
                    do {
                        try frontswap!.loadBatch(
                            area, offsets: UnsafeBufferPointer(offsets), into: UnsafeBufferPointer(buffers),
                            results: results)
                    } catch {
                        preconditionFailure("PagedRegion: its own area rejected a load batch: \(error)")
                    }
                    for (i, other) in run.enumerated() {
                        var result = results[i]
                        // Only the faulting page is waited for: a neighbour that cannot come back now is
                        // left out of the run (its own fault will wait for it), so an unreachable backend
                        // costs one page's retries per fault, not a whole run's.
                        var pause = Self.firstRetryPauseMicroseconds
                        for _ in 0..<Self.loadRetries where other == page {
                            guard case .failure(let error) = result, error.isRetryable else { break }
                            usleep(pause)
                            pause *= 2
                            result = loadOne(other, into: buffers[i])
                        }
                        let failure: FrontswapError?
                        switch result {
                        case .success(.tmem), .success(.disk): failure = nil
                        case .success(.notStored): failure = .lostOnLoad(area, PageOffset(other))
                        case .failure(let error): failure = error
                        }
                        if other == page {
                            if let failure { lost = failure } else if case .success(.disk) = result {
                                counts.diskFaults += 1
                            } else {
                                counts.tmemFaults += 1
                            }
                        } else if failure != nil {
                            // A neighbour that did not come back is left out of the run (its own fault
                            // will report it).
                            if other < page { lowest = max(lowest, other + 1) } else { highest = min(highest, other - 1) }
                        }
                    }
                    _ = results.deinitialize()
                }
            }
        }
        guard let lost else {
            // The staging buffer holds the run from its first page: drop the left-out lower pages.
            if lowest > run.lowerBound {
                let skip = lowest - run.lowerBound
                staging.baseAddress!.copyMemory(
                    from: staging.baseAddress! + skip * pageSize, byteCount: (highest - lowest + 1) * pageSize)
            }
            return lowest...highest
        }
        counts.lostPages += 1
        counts.lastLoss = "page \(page) at \(address(page)): \(lost.message)"
        publish()
        while let error = Userfaultfd.poison(uffd, address(page), pageSize) {
            // EAGAIN: the address space was changing; try again, as for UFFDIO_COPY.
            guard error.rawValue == EAGAIN else {
                fatalError(
                    "PagedRegion cannot bring back page \(page) at \(address(page)) (\(lost.message)), and cannot "
                        + "fail the access alone: UFFDIO_POISON (Linux 6.6+) failed: \(error)")
            }
        }
        return nil
    }

    /// Loads one slot's page again (a retry after a backend that could not answer).
    private func loadOne(_ page: Int, into buffer: UnsafeMutableRawPointer) -> Result<LoadResult, FrontswapError> {
        do throws(FrontswapError) {
            return .success(
                try frontswap!.load(
                    area, offset: PageOffset(page), into: UnsafeMutableRawBufferPointer(start: buffer, count: pageSize)))
        } catch {
            return .failure(error)
        }
    }

    /// Frees a page's frontswap slot (its copy is stale or about to be).
    func invalidateSlot(_ page: Int) {
        trace?.invalidate(area.rawValue, offset: page)
        _ = try? frontswap!.invalidatePage(area, offset: PageOffset(page))
    }

    // MARK: - ioctls

    /// UFFDIO_COPY of `count` staged pages starting at page `first` of `run`.
    private func copy(from first: Int, count: Int, run: ClosedRange<Int>, mode: UInt64) {
        copy(
            to: first,
            from: UnsafeRawPointer(staging.baseAddress! + (first - run.lowerBound) * pageSize),
            count: count,
            mode: mode
        )
    }

    /// UFFDIO_COPY of `count` pages from `source` to the region from page `first`, retried on EAGAIN (the
    /// address space was changing) from where the kernel stopped.
    private func copy(to first: Int, from source: UnsafeRawPointer, count: Int, mode: UInt64) {
        var done = 0
        let total = count * pageSize
        while done < total {
            let (filled, error) = Userfaultfd.copy(
                uffd,
                to: address(first) + done,
                from: source + done,
                length: total - done,
                mode: mode
            )
            done += filled
            guard let error else { continue }
            precondition(
                error.rawValue == EAGAIN,
                "UFFDIO_COPY of page \(first + done / pageSize) failed: \(error) "
                    + "(was the region unmapped or remapped behind PagedRegion's back?)"
            )
        }
    }

    /// Wakes threads waiting on faults in `count` pages from `page`.
    func wake(_ page: Int, count: Int) {
        check(Userfaultfd.wake(uffd, address(page), count * pageSize).error, "UFFDIO_WAKE")
    }

    private func retrying(_ what: String, _ call: () -> Errno?) {
        while let error = call() {
            precondition(
                error.rawValue == EAGAIN,
                "\(what) failed: \(error) (was the region unmapped or remapped behind PagedRegion's back?)"
            )
        }
    }

    func check(_ error: Errno?, _ what: String) {
        if let error { fatalError("PagedRegion: \(what) failed: \(error)") }
    }
}

extension Result where Failure == Errno {
    /// The error, or nil on success.
    var error: Errno? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
