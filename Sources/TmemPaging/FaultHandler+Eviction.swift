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

    /// Pages mapped now: on both lists, and in the eviction batch in flight (mapped until it is settled).
    var residentCount: Int { probation.count + protected.count + inFlightCount }

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
            if inFlightCount > 0 {
                // The evictor's batch makes room once settled: wait for it rather than evict more.
                if !finishEviction() { return }
                continue
            }
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

    /// Reclaim ahead of faults (kswapd's watermarks): when fewer than two eviction batches of pages are
    /// free under the budget, evicts one batch. With the evictor thread running (write tracking on), the
    /// batch is posted to it and the handler goes back to serving faults while it is stored and dropped;
    /// without, the handler evicts it itself, after the messages it read were served (their threads are
    /// running again). Either way the next fault normally finds room and only loads and maps. A settled
    /// batch is collected here without waiting. Budgets under eight batches are left to the faults
    /// (headroom would cost them a noticeable share of their memory).
    func reclaimAhead() {
        if inFlightCount > 0 {
            // A batch whose store failed (the swap file is full) is not followed by another until the
            // next fault: posting again at once would write-protect and give back the same pages forever.
            guard evictor.isDone, finishEviction() else { return }
        }
        let budget = budgetPages.load(ordering: .relaxed)
        let batch = evictionBatch
        guard budget >= 8 * batch, residentCount > budget - 2 * batch else { return }
        if evictor.isRunning {
            victims.removeAll(keepingCapacity: true)
            while victims.count < batch && residentCount > 0 {
                if let page = nextVictim() { victims.append(page) }
            }
            prepareEviction(victims)
            evictor.post()
        } else {
            makeRoom(2 * batch, direct: false)
        }
        publish()
    }

    /// Applies the budget now in force (after ``setBudget(pages:)``), then publishes.
    func enforceBudget() {
        finishEviction()
        makeRoom(0, direct: false)
        counts.residentBudgetPages = budgetPages.load(ordering: .relaxed)
        publish()
    }

    /// Evicts a batch now, on the handler thread: ``prepareEviction(_:)``, the job, ``finishEviction()``.
    ///
    /// - Returns: false if a store failed (the swap file could not be written): that page stays mapped,
    ///   writable and dirty, back in the ring; the others are evicted.
    private func evict(_ batch: [Int]) -> Bool {
        prepareEviction(batch)
        evictor.work()
        evictor.phase.store(Evictor.Phase.done, ordering: .relaxed)
        return finishEviction()
    }

    /// The handler's half before the job: write-protects the batch's dirty pages (so they cannot change
    /// while they are stored) and hands the batch to the evictor's buffers. Until
    /// ``finishEviction()``, the pages count as resident and carry ``PageMeta/evicting``: a fault on one
    /// waits for the job.
    func prepareEviction(_ batch: [Int]) {
        precondition(inFlightCount == 0 && batch.count <= evictor.capacity, "PagedRegion: eviction batches overlap")
        if writeProtectActive { writeProtectDirty(batch) }
        for (i, page) in batch.enumerated() {
            let isDirty = pages.state(page) == .dirty
            if isDirty { trace?.store(area.rawValue, offset: page) }
            evictor.pages[i] = page
            evictor.dirty[i] = isDirty
            pages[page].flags |= PageMeta.evicting
        }
        evictor.count = batch.count
        inFlightCount = batch.count
    }

    /// The handler's half after the job (waiting for it if it runs on the evictor's thread): the
    /// dropped pages become `evicted` (or `missing`, for zero pages), a page whose store failed goes back
    /// to its list, mapped, writable and dirty; then the counters.
    ///
    /// - Returns: false if a store failed.
    @discardableResult
    func finishEviction() -> Bool {
        guard inFlightCount > 0 else { return true }
        if evictor.isDone { evictor.clearDoneSignal() } else { evictor.waitDone() }
        var allStored = true
        var dropped = 0
        for i in 0..<evictor.count {
            let page = evictor.pages[i]
            var meta = pages[page]
            if !evictor.stored[i] {
                if writeProtectActive {
                    check(Userfaultfd.writeProtect(uffd, address(page), pageSize, protect: false), "un-write-protect")
                }
                meta.flags &= ~PageMeta.evicting
                pages[page] = meta
                counts.failedEvictions += 1
                if meta.flags & PageMeta.protected != 0 { protected.append(page) } else { probation.append(page) }
                allStored = false
                continue
            }
            switch PageState(rawValue: meta.state)! {
            case .zero, .clean:
                // Write-protected since it was mapped, so unchanged: its slot (or, for a zero page,
                // nothing at all) already holds it.
                counts.cleanEvictionsSkipped += 1
            case .dirty:
                break
            case .missing, .evicted:
                preconditionFailure("PagedRegion: page \(page) was in an eviction batch but \(pages.state(page))")
            }
            if meta.flags & PageMeta.prefetched != 0 { counts.prefetchWasted += 1 }
            meta.flags = 0
            meta.state = meta.state == PageState.zero.rawValue ? PageState.missing.rawValue : PageState.evicted.rawValue
            meta.evictedAt = evictionClock
            evictionClock &+= 1
            pages[page] = meta
            dropped += 1
        }
        counts.evictions += dropped
        inFlightCount = 0
        evictor.reset()
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
}
