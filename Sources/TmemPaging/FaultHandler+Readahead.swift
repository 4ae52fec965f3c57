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

    /// How far past its expected page a fault may land and still continue a stream, if every page in
    /// between is mapped: a reader going through a stretch it already had mapped. Twice the largest
    /// default window. A random fault continues a stream this way only if the g pages before it are all
    /// mapped, which happens with odds of about (budget / region size)^g.
    static let maxGap = 64

    /// Streams followed at once: one per thread scanning, for a few threads.
    static let tableSize = 8
    /// The window of a stream's second fault; it doubles at each fault that finds the whole run used
    /// (2, 4, 8... as the kernel's swap readahead grows with hits) and halves when a prefetched page
    /// was evicted before use.
    static let firstWindow = 2
}

extension FaultHandler {
    /// Follows the stream a fault belongs to and returns the pages to bring in with it: the faulting page
    /// plus up to `window` neighbours in state `gathering` in the stream's direction, contiguous (one
    /// UFFDIO_COPY).
    ///
    /// - Parameters:
    ///   - page: The faulting page.
    ///   - gathering: `.evicted` for a major fault (neighbours come back from frontswap); `.missing`
    ///     for a write to never-stored memory (a writer going through fresh memory in order gets its
    ///     next pages mapped from zeros with this one); nil for a read of never-stored memory: the
    ///     stream is followed (and its hits counted) but nothing is mapped ahead (a read maps the
    ///     shared zero page, write-protected, one page at a time).
    @discardableResult
    func readaheadRun(_ page: Int, gathering: PageState? = .evicted) -> ClosedRange<Int> {
        guard readaheadMax > 0 else { return page...page }
        guard let i = matchStream(page) else {
            startStream(page)
            return page...page
        }
        var stream = streams[i]
        let d = stream.direction
        // The stream went through the prefetched pages between its last fault and this one: hits. Used
        // once by a scan, they lose their grace pass (a scan must not linger).
        var q = stream.last + d
        while q != page {
            if pages[q].flags & PageMeta.prefetched != 0 {
                pages[q].flags &= ~(PageMeta.prefetched | PageMeta.grace)
                counts.prefetchHits += 1
            }
            q += d
        }
        streamTick &+= 1
        stream.used = streamTick
        guard let gathering else {
            stream.last = page
            stream.next = d > 0 ? max(stream.next, page + 1) : min(stream.next, page - 1)
            streams[i] = stream
            return page...page
        }
        let limit = min(readaheadMax, budgetPages.load(ordering: .relaxed) / 8)
        if (page - stream.next) * d >= 0 || stream.window == 0 {
            stream.window = stream.window == 0 ? ReadaheadStream.firstWindow : min(stream.window * 2, limit)
        } else {
            stream.window = max(stream.window / 2, 1)
        }
        stream.window = min(stream.window, limit)
        var count = 0
        var candidate = page + d
        while count < stream.window && candidate >= 0 && candidate < pageCount && pages.state(candidate) == gathering {
            count += 1
            candidate += d
        }
        stream.last = page
        stream.next = d > 0 ? max(stream.next, page + count + 1) : min(stream.next, page - count - 1)
        streams[i] = stream
        return d > 0 ? page...(page + count) : (page - count)...page
    }

    /// The stream `page` continues, fixing the direction of a stream that had none.
    private func matchStream(_ page: Int) -> Int? {
        for i in 0..<streams.count where streams[i].last >= 0 {
            let s = streams[i]
            if s.direction != 0 {
                if continues(s, page, direction: s.direction) { return i }
                continue
            }
            // A stream of one fault: whichever way this one goes from it.
            let d = page > s.last ? 1 : -1
            if continues(s, page, direction: d) {
                streams[i].direction = d
                streams[i].next = s.last + d
                return i
            }
        }
        return nil
    }

    /// Whether a fault at `page` continues stream `s` in direction `d`: it lands inside the stream's
    /// readahead run (a prefetched page was evicted before use) or at its end, or beyond it with only
    /// mapped pages in between (the reader went through them without faulting), at most
    /// `ReadaheadStream.maxGap` pages on.
    private func continues(_ s: ReadaheadStream, _ page: Int, direction d: Int) -> Bool {
        let next = s.direction == 0 ? s.last + d : s.next
        if (page - s.last) * d > 0 && (next - page) * d >= 0 { return true }
        let gap = (page - next) * d
        guard gap > 0 && gap <= ReadaheadStream.maxGap else { return false }
        var q = next
        while q != page {
            guard pages.state(q).isResident else { return false }
            q += d
        }
        return true
    }

    /// Replaces the least recently used stream with a new one at `page`.
    private func startStream(_ page: Int) {
        var oldest = 0
        for i in 1..<streams.count where streams[i].used < streams[oldest].used { oldest = i }
        streamTick &+= 1
        streams[oldest] = ReadaheadStream(last: page, next: page, direction: 0, window: 0, used: streamTick)
    }
}
