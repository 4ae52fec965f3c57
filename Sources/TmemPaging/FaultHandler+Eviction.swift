#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Tmem
import TmemFrontswap

extension FaultHandler {
    /// Evicts until `incoming` more pages fit in the budget (or a store fails). Handler thread only.
    ///
    /// The victim is chosen by CLOCK: the hand is the head of `resident`; a page with heat spends one
    /// unit and goes to the tail, a page without is evicted. Heat is at most 3, so a victim is found
    /// within four turns of the ring. Under `.fifo` no page has heat: the head is always the victim.
    func makeRoom(_ incoming: Int) {
        let budget = budgetPages.load(ordering: .relaxed)
        while resident.count > 0 && resident.count + incoming > budget {
            let page = resident.removeFirst()
            let heat = pages[page].heat
            if heat > 0 {
                pages[page].heat = heat - 1
                resident.append(page)
                continue
            }
            if !evict(page) {
                resident.append(page)
                return
            }
        }
    }

    /// Applies the budget now in force (after ``setBudget(pages:)``), then publishes.
    func enforceBudget() {
        makeRoom(0)
        counts.residentBudgetPages = budgetPages.load(ordering: .relaxed)
        publish()
    }

    /// Drops one resident page from the region, storing it first if it is dirty.
    ///
    /// - Returns: false if the store failed (the swap file could not be written): the page stays mapped,
    ///   writable, and dirty.
    private func evict(_ page: Int) -> Bool {
        var meta = pages[page]
        let state = PageState(rawValue: meta.state)!
        switch state {
        case .zero, .clean:
            // Write-protected since it was mapped, so unchanged: its slot (or, for a zero page, nothing at
            // all) already holds it. A writer racing this blocks on a WP fault, served after the drop.
            counts.cleanEvictionsSkipped += 1
        case .dirty:
            if writeProtectActive {
                check(Userfaultfd.writeProtect(uffd, address(page), pageSize, protect: true), "write-protect")
            }
            trace?.store(area.rawValue, offset: page)
            do {
                _ = try frontswap!.store(
                    area, offset: PageOffset(page), page: UnsafeRawBufferPointer(start: address(page), count: pageSize))
            } catch {
                if writeProtectActive {
                    check(Userfaultfd.writeProtect(uffd, address(page), pageSize, protect: false), "un-write-protect")
                }
                counts.failedEvictions += 1
                return false
            }
        case .missing, .evicted:
            preconditionFailure("PagedRegion: page \(page) is in the resident ring but \(state)")
        }
        guard madvise(address(page), pageSize, MADV_DONTNEED) == 0 else {
            fatalError("PagedRegion: madvise(MADV_DONTNEED) of page \(page) failed: \(Errno.current)")
        }
        if meta.flags & PageMeta.prefetchedFlag != 0 {
            counts.prefetchWasted += 1
            meta.flags = 0
        }
        meta.state = state == .zero ? PageState.missing.rawValue : PageState.evicted.rawValue
        meta.heat = 0
        meta.evictedAt = evictionClock
        evictionClock &+= 1
        pages[page] = meta
        counts.evictions += 1
        return true
    }
}

/// One sequential stream the readahead follows: where its last fault was, and where the next is expected.
struct ReadaheadStream {
    /// The page of the stream's last fault; -1 for an unused entry.
    var last = -1
    /// The first page past the stream's readahead run (in its direction); the next fault lands there
    /// when every prefetched page was used.
    var next = -1
    /// +1 forward, -1 backward, 0 while one fault does not yet show a direction.
    var direction = 0
    /// Pages to read ahead at the stream's next fault.
    var window = 0
    /// When the stream last matched a fault (for replacing the least recently used entry).
    var used: UInt64 = 0

    /// Streams followed at once: one per thread scanning, for a few threads.
    static let tableSize = 8
    /// The window of a stream's second fault; it doubles at each fault that finds the whole run used
    /// (2, 4, 8... as the kernel's swap readahead grows with hits) and halves when a prefetched page
    /// was evicted before use.
    static let firstWindow = 2
}

extension FaultHandler {
    /// Follows the stream a fault belongs to and returns the pages to bring in with it: the faulting page
    /// plus up to `window` evicted neighbours in the stream's direction, contiguous (one UFFDIO_COPY).
    func readaheadRun(_ page: Int) -> ClosedRange<Int> {
        guard readaheadMax > 0 else { return page...page }
        guard let i = matchStream(page) else {
            startStream(page)
            return page...page
        }
        var stream = streams[i]
        let d = stream.direction
        // The stream went through the prefetched pages between its last fault and this one: hits.
        var q = stream.last + d
        while q != page {
            if pages[q].flags & PageMeta.prefetchedFlag != 0 {
                pages[q].flags = 0
                counts.prefetchHits += 1
            }
            q += d
        }
        let limit = min(readaheadMax, budgetPages.load(ordering: .relaxed) / 8)
        if page == stream.next || stream.window == 0 {
            stream.window = stream.window == 0 ? ReadaheadStream.firstWindow : min(stream.window * 2, limit)
        } else {
            stream.window = max(stream.window / 2, 1)
        }
        stream.window = min(stream.window, limit)
        var count = 0
        var candidate = page + d
        while count < stream.window && candidate >= 0 && candidate < pageCount && pages.state(candidate) == .evicted {
            count += 1
            candidate += d
        }
        stream.last = page
        stream.next = d > 0 ? max(stream.next, page + count + 1) : min(stream.next, page - count - 1)
        streamTick &+= 1
        stream.used = streamTick
        streams[i] = stream
        return d > 0 ? page...(page + count) : (page - count)...page
    }

    /// Follows a zero-fill fault (no readahead: nothing is held to read), so a scan that mixes written and
    /// never-written pages keeps its stream.
    func noteStream(_ page: Int) {
        guard readaheadMax > 0 else { return }
        guard let i = matchStream(page) else {
            startStream(page)
            return
        }
        streamTick &+= 1
        streams[i].last = page
        let d = streams[i].direction
        streams[i].next = d > 0 ? max(streams[i].next, page + 1) : min(streams[i].next, page - 1)
        streams[i].used = streamTick
    }

    /// The stream whose expected range holds `page`, fixing the direction of a new stream.
    private func matchStream(_ page: Int) -> Int? {
        for i in 0..<streams.count {
            let s = streams[i]
            guard s.last >= 0 else { continue }
            switch s.direction {
            case 0:
                if page == s.last + 1 || page == s.last - 1 {
                    streams[i].direction = page - s.last
                    streams[i].next = page
                    return i
                }
            case 1:
                if page > s.last && page <= max(s.next, s.last + 1) { return i }
            default:
                if page < s.last && page >= min(s.next, s.last - 1) { return i }
            }
        }
        return nil
    }

    /// Replaces the least recently used stream with a new one at `page`.
    private func startStream(_ page: Int) {
        var oldest = 0
        for i in 1..<streams.count where streams[i].used < streams[oldest].used { oldest = i }
        streamTick &+= 1
        streams[oldest] = ReadaheadStream(last: page, next: page, direction: 0, window: 0, used: streamTick)
    }
}
