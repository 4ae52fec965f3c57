#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CUserfaultfd
import Tmem
import TmemFrontswap

extension FaultHandler {
    /// The most pages evicted in one batch (and dropped with one process_madvise, one TLB flush).
    static let maxEvictionBatch = 64

    /// Pages evicted at once when room runs out: 1/32 of the budget, at most ``maxEvictionBatch``, so a
    /// batch's shared costs (one `process_madvise`, one TLB shootdown) are spread over many pages while
    /// the region stays within 3% of its budget.
    var evictionBatch: Int { max(1, min(Self.maxEvictionBatch, budgetPages.load(ordering: .relaxed) / 32)) }

    /// Pages mapped now, on both lists.
    var residentCount: Int { probation.count + protected.count }

    /// The most pages the protected list keeps (3/4 of the budget): the rest of the budget is probation,
    /// where new pages prove themselves. 3/4 is what simulated Zipf workloads liked best (1/2 gives back
    /// a third of the gain, 9/10 adds nothing and leaves little room for a scan or a readahead window).
    var protectedLimit: Int { budgetPages.load(ordering: .relaxed) * 3 / 4 }

    /// Evicts until `incoming` more pages fit in the budget, a batch at a time (or until a store fails).
    /// On a fault's path (`direct`), an eviction means reclaim ahead of faults fell behind: it is
    /// counted in ``PagingStatistics/directReclaims``. Handler thread only.
    func makeRoom(_ incoming: Int, direct: Bool = true) {
        let budget = budgetPages.load(ordering: .relaxed)
        if direct && residentCount > 0 && residentCount + incoming > budget { counts.directReclaims += 1 }
        while residentCount > 0 && residentCount + incoming > budget {
            let wanted = min(
                max(residentCount + incoming - budget, evictionBatch),
                residentCount,
                Self.maxEvictionBatch
            )
            victims.removeAll(keepingCapacity: true)
            while victims.count < wanted && residentCount > 0 {
                if let page = nextVictim() { victims.append(page) }
            }
            if !evict(victims) { return }
        }
    }

    /// Takes one page off the list heads: a victim, or nil when the step only moved a page (demoted it
    /// from protected, promoted a written page, or spent a prefetched page's grace). Every move clears a
    /// flag or shortens the protected list, so victims come within a bounded number of steps.
    private func nextVictim() -> Int? {
        if policy == .fifo { return probation.removeFirst() }
        if protected.count > protectedLimit || probation.count == 0 {
            let page = protected.removeFirst()
            if pages[page].flags & PageMeta.referenced != 0 {
                pages[page].flags &= ~PageMeta.referenced
                protected.append(page)
            } else {
                pages[page].flags &= ~PageMeta.protected
                probation.append(page)
            }
            return nil
        }
        let page = probation.removeFirst()
        let flags = pages[page].flags
        if flags & PageMeta.referenced != 0 {
            pages[page].flags = (flags & ~PageMeta.referenced) | PageMeta.protected
            protected.append(page)
            return nil
        }
        if flags & PageMeta.grace != 0 {
            pages[page].flags = flags & ~PageMeta.grace
            probation.append(page)
            return nil
        }
        return page
    }

    /// Reclaim ahead of faults (kswapd's watermarks, in the handler): when fewer than one eviction
    /// batch of pages is free under the budget, evicts until two batches are. Called once the messages
    /// read have been served, so the faulting threads are already awake and running while it works,
    /// and the next fault normally finds room and only loads and maps. Budgets under eight batches are
    /// left to the faults (headroom would cost them a noticeable share of their memory).
    func reclaimAhead() {
        let budget = budgetPages.load(ordering: .relaxed)
        let batch = evictionBatch
        guard budget >= 8 * batch, residentCount > budget - batch else { return }
        makeRoom(2 * batch, direct: false)
        publish()
    }

    /// Applies the budget now in force (after ``setBudget(pages:)``), then publishes.
    func enforceBudget() {
        makeRoom(0, direct: false)
        counts.residentBudgetPages = budgetPages.load(ordering: .relaxed)
        publish()
    }

    /// Drops pages from the region, storing the dirty ones first (one frontswap batch: one backend
    /// round trip); then drops them all with one `process_madvise(MADV_DONTNEED)` (one `madvise` each
    /// where the kernel lacks it).
    ///
    /// - Returns: false if a store failed (the swap file could not be written): that page stays mapped,
    ///   writable and dirty, back in the ring; the others are evicted.
    private func evict(_ batch: [Int]) -> Bool {
        var allStored = true
        var dropped = 0
        if writeProtectActive { writeProtectDirty(batch) }
        withUnsafeTemporaryAllocation(of: Bool.self, capacity: batch.count) { stored in
            storeDirty(batch, stored: stored)
            for (i, page) in batch.enumerated() {
                switch pages.state(page) {
                case .zero, .clean:
                    // Write-protected since it was mapped, so unchanged: its slot (or, for a zero page,
                    // nothing at all) already holds it. A writer racing this blocks on a WP fault, served
                    // after the drop.
                    counts.cleanEvictionsSkipped += 1
                case .dirty:
                    if !stored[i] {
                        if writeProtectActive {
                            check(
                                Userfaultfd.writeProtect(uffd, address(page), pageSize, protect: false),
                                "un-write-protect"
                            )
                        }
                        counts.failedEvictions += 1
                        if pages[page].flags & PageMeta.protected != 0 {
                            protected.append(page)
                        } else {
                            probation.append(page)
                        }
                        allStored = false
                        continue
                    }
                case .missing, .evicted:
                    preconditionFailure("PagedRegion: page \(page) is in the resident ring but \(pages.state(page))")
                }
                dropList[dropped] = iovec(iov_base: address(page), iov_len: pageSize)
                dropped += 1
            }
        }
        drop(count: dropped)
        for i in 0..<dropped {
            let page = (dropList[i].iov_base! - base) >> 12
            var meta = pages[page]
            if meta.flags & PageMeta.prefetched != 0 { counts.prefetchWasted += 1 }
            meta.flags = 0
            meta.state = meta.state == PageState.zero.rawValue ? PageState.missing.rawValue : PageState.evicted.rawValue
            meta.evictedAt = evictionClock
            evictionClock &+= 1
            pages[page] = meta
        }
        counts.evictions += dropped
        return allStored
    }

    /// Write-protects the dirty pages of a batch before any is stored, one UFFDIO_WRITEPROTECT per run of
    /// neighbouring pages (victims come in fault order, so a sequential writer's are one run).
    private func writeProtectDirty(_ batch: [Int]) {
        var runStart = -1
        var runLength = 0
        for page in batch where pages.state(page) == .dirty {
            if runLength > 0 && page == runStart + runLength {
                runLength += 1
                continue
            }
            if runLength > 0 {
                check(
                    Userfaultfd.writeProtect(uffd, address(runStart), runLength * pageSize, protect: true),
                    "write-protect"
                )
            }
            runStart = page
            runLength = 1
        }
        if runLength > 0 {
            check(
                Userfaultfd.writeProtect(uffd, address(runStart), runLength * pageSize, protect: true),
                "write-protect"
            )
        }
    }

    /// Stores the dirty pages of a batch straight from the region into their frontswap slots, with one
    /// ``Frontswap/storeBatch(_:offsets:pages:results:)``; `stored[i]` says whether `batch[i]` is safe
    /// to drop (true for pages that were not dirty).
    private func storeDirty(_ batch: [Int], stored: UnsafeMutableBufferPointer<Bool>) {
        var dirty = 0
        for (i, page) in batch.enumerated() {
            let isDirty = pages.state(page) == .dirty
            stored.initializeElement(at: i, to: !isDirty)
            if isDirty { dirty += 1 }
        }
        guard dirty > 0 else { return }
        withUnsafeTemporaryAllocation(of: Int.self, capacity: dirty) { offsets in
            withUnsafeTemporaryAllocation(of: UnsafeRawPointer.self, capacity: dirty) { sources in
                withUnsafeTemporaryAllocation(of: Result<StoreResult, FrontswapError>.self, capacity: dirty) { results in
                    var n = 0
                    for page in batch where pages.state(page) == .dirty {
                        trace?.store(area.rawValue, offset: page)
                        offsets.initializeElement(at: n, to: page)
                        sources.initializeElement(at: n, to: UnsafeRawPointer(address(page)))
                        results.initializeElement(at: n, to: .success(.tmem))
                        n += 1
                    }
                    do {
                        try frontswap!.storeBatch(
                            area, offsets: UnsafeBufferPointer(offsets), pages: UnsafeBufferPointer(sources),
                            results: results)
                    } catch {
                        preconditionFailure("PagedRegion: its own area rejected an eviction batch: \(error)")
                    }
                    var j = 0
                    for (i, page) in batch.enumerated() where pages.state(page) == .dirty {
                        if case .success = results[j] { stored[i] = true }
                        j += 1
                    }
                    _ = results.deinitialize()
                }
            }
        }
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
}
