import Synchronization
import Tmem

extension Frontswap {
    /// Repatriates pages out of transcendent memory until at most `target` are held (mirrors
    /// `frontswap_shrink`): each page is read from the backend, written to its area's backing device, and
    /// only then dropped from the backend, under its slot's lock, so there is never a moment at which the
    /// page is in neither place. Pages moved count in `repatriatedPages`, not in stores or invalidates.
    ///
    /// Pages leave in the backend's writeback order when it keeps one (``WritebackSource``: least
    /// recently stored first), else area by area in slot order.
    ///
    /// - Parameter target: The most pages to leave in transcendent memory, at least 0.
    /// - Returns: ``currPages`` afterwards.
    /// - Throws: ``FrontswapError`` when a backing device fails; the page being moved stays in
    ///   transcendent memory and every page already moved is on its device.
    @discardableResult
    public func shrink(toPages target: Int) throws(FrontswapError) -> Int {
        precondition(target >= 0, "a shrink target is a page count")
        var excess = currPages - target
        guard excess > 0 else { return currPages }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: pageSize)
        defer { buffer.deallocate() }
        if let source = writebackSource {
            while excess > 0 {
                let moved = try repatriateColdest(of: source, limit: min(excess, 256), buffer: buffer)
                guard moved > 0 else { break }
                excess -= moved
            }
        }
        for i in 0..<configuration.maxAreas where excess > 0 {
            guard let state = areas[i] else { continue }
            try state.tmemMap.forEachSetBit { (slot: Int) throws(FrontswapError) -> Bool in
                if try repatriate(state, slot: slot, buffer: buffer) { excess -= 1 }
                return excess > 0
            }
        }
        return currPages
    }

    /// Repatriates up to `limit` of the backend's coldest pages, skipping those the frontend no longer
    /// holds.
    ///
    /// - Returns: The pages moved.
    func repatriateColdest(
        of source: any WritebackSource, limit: Int, buffer: UnsafeMutableRawBufferPointer
    ) throws(FrontswapError) -> Int {
        var moved = 0
        for key in source.coldestKeys(limit: limit) {
            guard let state = area(of: key.pool) else { continue }
            if try repatriate(state, slot: Int(key.index.rawValue), buffer: buffer) { moved += 1 }
        }
        return moved
    }

    /// Moves one slot's page from transcendent memory to the backing device.
    ///
    /// - Returns: false if the slot no longer held a page in transcendent memory when its lock was taken.
    func repatriate(_ state: Area, slot: Int, buffer: UnsafeMutableRawBufferPointer) throws(FrontswapError) -> Bool {
        try state.withSlot(slot) { (counters: inout FrontswapCounters) throws(FrontswapError) -> Bool in
            guard state.tmemMap[slot] else { return false }
            let key = state.key(slot)
            let hit: Bool
            do throws(TmemError) { hit = try backend.get(key, into: buffer) } catch {
                backend.flushPage(key)
                state.tmemMap.clear(slot)
                counters.currPages -= 1
                throw .backend(error, state.id, PageOffset(slot))
            }
            precondition(hit, "transcendent memory lost \(PageOffset(slot)) of \(state.id), which it had accepted")
            do throws(BackingDeviceError) {
                try state.device.write(slot: slot, page: UnsafeRawBufferPointer(buffer))
            } catch {
                counters.deviceErrors += 1
                throw .device(error)
            }
            state.diskMap.set(slot)
            backend.flushPage(key)
            writebackSource?.didWriteBack(key)
            state.tmemMap.clear(slot)
            counters.currPages -= 1
            counters.repatriatedPages += 1
            return true
        }
    }
}

extension Frontswap {
    /// Repatriates the pages a ``WritebackSource`` backend asks to be rid of (zswap's writeback), if it
    /// asks. Called after a store, outside every slot lock; one thread at a time does the work.
    /// Device errors stop the round and leave the pages in transcendent memory.
    func writeBackIfWanted() {
        guard let source = writebackSource, source.writebackWanted > 0 else { return }
        guard writingBack.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return }
        defer { writingBack.store(false, ordering: .releasing) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: pageSize)
        defer { buffer.deallocate() }
        // Bounded rounds: the store that triggered this waits for at most a few batches.
        for _ in 0..<4 {
            let wanted = source.writebackWanted
            guard wanted > 0,
                let moved = try? repatriateColdest(of: source, limit: min(wanted, 128), buffer: buffer), moved > 0
            else { return }
        }
    }
}
