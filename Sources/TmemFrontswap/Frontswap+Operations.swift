import Tmem

extension Frontswap {
    /// Stores a page in a slot (mirrors `__frontswap_store`): offers it to transcendent memory and, if
    /// refused, writes it to the backing device. A store over a slot that already holds a page replaces it;
    /// a refused store over a slot held in transcendent memory drops the held copy first. Each page lives
    /// in exactly one place afterwards.
    ///
    /// - Parameters:
    ///   - area: An initialised area.
    ///   - offset: The slot, in 0..<pages.
    ///   - page: Exactly 4096 bytes; copied before this returns.
    /// - Returns: `.tmem`, or `.disk(reason)` with the backend's (or the disabled area's) reason.
    /// - Throws: ``FrontswapError`` for an unknown area, an offset out of range, or a backing device that
    ///   failed. After a device failure the slot holds nothing (a later load answers `.notStored`), never
    ///   an older page.
    /// - Complexity: One stripe lock, one backend put, and one device write if refused.
    public func store(_ area: SwapArea, offset: PageOffset, page: UnsafeRawBufferPointer) throws(FrontswapError)
        -> StoreResult
    {
        guard page.count == pageSize else { throw .pageSize(page.count) }
        let state = try self.area(area, offset)
        let slot = offset.rawValue
        defer { wakeReclaimerIfWanted() }
        return try state.withSlot(slot) { (counters: inout FrontswapCounters) throws(FrontswapError) -> StoreResult in
            let result: PutResult =
                state.enabled.load(ordering: .acquiring)
                ? backend.put(state.key(slot), page: page) : .refused(.areaDisabled)
            return try settleStore(state, slot: slot, page: page, result, &counters)
        }
    }

    /// Finishes a store once the backend answered (the slot's stripe lock held): records an accepted page
    /// in the map, or writes a refused one to the backing device.
    func settleStore(
        _ state: Area, slot: Int, page: UnsafeRawBufferPointer, _ result: PutResult, _ counters: inout FrontswapCounters
    ) throws(FrontswapError) -> StoreResult {
        let wasHeld = state.tmemMap[slot]
        let reason: RefusalReason
        switch result {
        case .stored:
            if !wasHeld {
                state.tmemMap.set(slot)
                counters.currPages += 1
            }
            state.diskMap.clear(slot)
            counters.succStores += 1
            return .tmem
        case .refused(let why):
            reason = why
        }
        // Refused: the backend promised to drop an older copy; drop it here too, so that no backend
        // bug can leave a stale page behind the map's back.
        if wasHeld {
            backend.flushPage(state.key(slot))
            state.tmemMap.clear(slot)
            counters.currPages -= 1
        }
        do throws(BackingDeviceError) {
            try state.device.write(slot: slot, page: page)
        } catch {
            state.diskMap.clear(slot)
            counters.deviceErrors += 1
            throw .device(error)
        }
        state.diskMap.set(slot)
        counters.failedStores += 1
        return .disk(reason)
    }

    /// Tells the reclaimer to run when the backend asks for pages back: one cheap read per store, and
    /// the work happens on the reclaimer's thread, never the storing one.
    @inline(__always)
    func wakeReclaimerIfWanted() {
        guard let reclaimer, backend.writebackWanted > 0 else { return }
        reclaimer.wake()
    }

    /// Loads a slot's page (mirrors `__frontswap_load`): from transcendent memory if the frontswap map has
    /// the slot (which must succeed), else from the backing device. Non-destructive unless
    /// ``Configuration/exclusiveLoads`` is set.
    ///
    /// - Parameters:
    ///   - area: An initialised area.
    ///   - offset: The slot, in 0..<pages.
    ///   - page: Exactly 4096 bytes to fill; untouched when the result is `.notStored`.
    /// - Returns: Where the page came from, or `.notStored`.
    /// - Throws: ``FrontswapError`` for an unknown area, an offset out of range, or a failed device read;
    ///   and when transcendent memory cannot return a page it holds: ``FrontswapError/isPageLost`` when the
    ///   page is gone (the backend lost it, missed, or found its copy damaged: the slot is then emptied and
    ///   the loss counted in `lostPages`; damaged bytes are never returned), ``FrontswapError/isRetryable``
    ///   when the backend cannot answer now (the slot keeps its page; try again).
    public func load(_ area: SwapArea, offset: PageOffset, into page: UnsafeMutableRawBufferPointer)
        throws(FrontswapError) -> LoadResult
    {
        guard page.count == pageSize else { throw .pageSize(page.count) }
        let state = try self.area(area, offset)
        let slot = offset.rawValue
        return try state.withSlot(slot) { (counters: inout FrontswapCounters) throws(FrontswapError) -> LoadResult in
            guard state.tmemMap[slot] else { return try loadFromDevice(state, slot: slot, into: page, &counters) }
            let outcome: GetResult
            do throws(TmemError) {
                outcome = try backend.get(state.key(slot), into: page) ? .hit : .miss
            } catch {
                outcome = .failed(error)
            }
            try settleLoad(state, slot: slot, outcome, &counters)
            return .tmem
        }
    }

    /// Reads a slot the map does not record from the backing device (the slot's stripe lock held).
    func loadFromDevice(
        _ state: Area, slot: Int, into page: UnsafeMutableRawBufferPointer, _ counters: inout FrontswapCounters
    ) throws(FrontswapError) -> LoadResult {
        guard state.diskMap[slot] else { return .notStored }
        do throws(BackingDeviceError) {
            try state.device.read(slot: slot, into: page)
        } catch {
            counters.deviceErrors += 1
            throw .device(error)
        }
        counters.diskLoads += 1
        return .disk
    }

    /// Finishes a load of a slot the map records, once the backend answered (the slot's stripe lock held).
    ///
    /// - Throws: For anything but a hit: the page is lost (slot emptied, counted) or unreachable now
    ///   (slot kept, counted).
    func settleLoad(_ state: Area, slot: Int, _ outcome: GetResult, _ counters: inout FrontswapCounters)
        throws(FrontswapError)
    {
        let key = state.key(slot)
        switch outcome {
        case .hit:
            if configuration.exclusiveLoads {
                backend.flushPage(key)
                state.tmemMap.clear(slot)
                counters.currPages -= 1
            }
            counters.loads += 1
        case .failed(let error) where error.isRetryable:
            counters.retryableErrors += 1
            throw .backend(error, state.id, PageOffset(slot))
        case .miss, .failed:
            // Gone for good: forget it (a damaged copy is dropped too), so no later load returns anything
            // but `.notStored` for this slot.
            backend.flushPage(key)
            state.tmemMap.clear(slot)
            counters.currPages -= 1
            counters.lostPages += 1
            if case .failed(let error) = outcome { throw .backend(error, state.id, PageOffset(slot)) }
            throw .missing(state.id, PageOffset(slot))
        }
    }

    /// Frees a slot (mirrors `__frontswap_invalidate_page`): drops the page from transcendent memory if it
    /// is held there (counted in `invalidates`) and forgets the backing device's copy.
    ///
    /// - Parameters:
    ///   - area: An initialised area.
    ///   - offset: The slot, in 0..<pages.
    /// - Returns: true if transcendent memory held the page.
    /// - Throws: ``FrontswapError`` for an unknown area or an offset out of range.
    @discardableResult
    public func invalidatePage(_ area: SwapArea, offset: PageOffset) throws(FrontswapError) -> Bool {
        let state = try self.area(area, offset)
        let slot = offset.rawValue
        return state.withSlot(slot) { counters in
            state.diskMap.clear(slot)
            guard state.tmemMap[slot] else { return false }
            backend.flushPage(state.key(slot))
            state.tmemMap.clear(slot)
            counters.currPages -= 1
            counters.invalidates += 1
            return true
        }
    }

    /// Drops every page of an area that transcendent memory holds, clears its map, and sends its stores
    /// to the backing device until the next ``initArea(_:pages:device:)`` (mirrors
    /// `__frontswap_invalidate_area`). The backing device's slots are untouched: loads of pages written
    /// there still find them.
    ///
    /// - Parameter area: An initialised area.
    /// - Returns: The number of pages dropped from transcendent memory.
    /// - Throws: ``FrontswapError`` for an unknown area.
    /// - Complexity: O(slots / 64 + held pages); takes each stripe lock once.
    @discardableResult
    public func invalidateArea(_ area: SwapArea) throws(FrontswapError) -> Int {
        let state = try self.area(area)
        return state.control.withLock { _ in
            // Disable, then take every stripe lock once: a store that saw the area enabled held its stripe
            // lock, so after this barrier none is in flight and none can set a map bit until the next init
            // (which needs `control`, held here). Then sweep what the map holds.
            state.enabled.store(false, ordering: .releasing)
            for stripe in 0..<Area.stripeCount { state.withSlot(stripe) { _ in } }
            var dropped = 0
            try? state.tmemMap.forEachSetBit { slot in
                state.withSlot(slot) { counters in
                    guard state.tmemMap.clear(slot) else { return }
                    backend.flushPage(state.key(slot))
                    counters.currPages -= 1
                    dropped += 1
                }
                return true
            }
            return dropped
        }
    }
}
