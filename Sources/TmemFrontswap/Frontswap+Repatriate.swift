import Tmem

/// What one round of repatriation did.
public struct WritebackOutcome: Sendable, Equatable {
    /// Pages written to their backing device and dropped from transcendent memory.
    public var moved = 0
    /// Pages that could not be moved (the device failed, or the backend could not return them now);
    /// each stayed where it was. Pages the backend had lost are not here: they count in `lostPages`.
    public var failed = 0
    /// The first error met, if any.
    public var firstError: FrontswapError?

    /// An empty outcome.
    public init() {}

    /// Adds another round's outcome to this one.
    public mutating func add(_ other: WritebackOutcome) {
        moved += other.moved
        failed += other.failed
        if firstError == nil { firstError = other.firstError }
    }
}

extension Frontswap: ReclaimTarget {
    /// The most pages moved under one set of stripe locks (and one backend batch).
    static let repatriationBatch = 64

    /// ``currPages``, as a ``ReclaimTarget`` sees it.
    public var heldPages: Int { currPages }

    /// Repatriates pages out of transcendent memory until at most `target` are held (mirrors
    /// `frontswap_shrink`): each page is read from the backend, written to its area's backing device, and
    /// only then dropped from the backend, under its slot's lock, so there is never a moment at which the
    /// page is in neither place. Pages moved count in `repatriatedPages`, not in stores or invalidates.
    ///
    /// Pages leave in the backend's writeback order when it keeps one (``Backend/coldestKeys(limit:)``:
    /// least recently stored first), then area by area in slot order. Work goes in batches of 64 pages
    /// (one backend `getBatch` and one `flushBatch` each).
    ///
    /// - Parameter target: The most pages to leave in transcendent memory, at least 0.
    /// - Returns: ``currPages`` afterwards.
    /// - Throws: The first ``FrontswapError`` met (a backing device that failed, or a backend that could
    ///   not return a page): the page it concerns stays in transcendent memory (or, if the backend lost
    ///   it, is reported lost) and every page already moved is on its device.
    @discardableResult
    public func shrink(toPages target: Int) throws(FrontswapError) -> Int {
        precondition(target >= 0, "a shrink target is a page count")
        var excess = currPages - target
        guard excess > 0 else { return currPages }
        let buffer = UnsafeMutableRawBufferPointer.allocate(
            byteCount: Self.repatriationBatch * pageSize, alignment: pageSize)
        defer { buffer.deallocate() }
        while excess > 0 {
            let keys = backend.coldestKeys(limit: min(excess, 4 * Self.repatriationBatch)).filter { owns($0.pool) }
            guard !keys.isEmpty else { break }
            let outcome = writeBack(keys, buffer: buffer)
            if let error = outcome.firstError { throw error }
            guard outcome.moved > 0 else { break }
            excess -= outcome.moved
        }
        var slots: [Int] = []
        slots.reserveCapacity(Self.repatriationBatch)
        for i in 0..<configuration.maxAreas where excess > 0 {
            guard let state = areas[i] else { continue }
            var failure: FrontswapError?
            /// Moves the slots gathered so far; false once a batch failed.
            func moveGathered() -> Bool {
                let outcome = slots.withUnsafeBufferPointer { repatriate(state, slots: $0, buffer: buffer) }
                slots.removeAll(keepingCapacity: true)
                excess -= outcome.moved
                failure = outcome.firstError
                return failure == nil
            }
            try? state.tmemMap.forEachSetBit { slot in
                slots.append(slot)
                guard slots.count == Self.repatriationBatch || slots.count == excess else { return true }
                return moveGathered() && excess > 0
            }
            if failure == nil, !slots.isEmpty { _ = moveGathered() }
            if let failure { throw failure }
        }
        return currPages
    }

    /// Repatriates the pages of these keys that belong to this frontend and that it still holds in
    /// transcendent memory (others are skipped): what a ``Reclaimer`` calls with the backend's coldest keys.
    ///
    /// - Parameters:
    ///   - keys: Keys, typically from ``Backend/coldestKeys(limit:)``.
    ///   - buffer: Room for 64 pages, page-aligned.
    /// - Returns: Pages moved and pages that could not be moved (with the first error).
    public func writeBack(_ keys: [Key], buffer: UnsafeMutableRawBufferPointer) -> WritebackOutcome {
        precondition(buffer.count >= Self.repatriationBatch * pageSize, "the buffer holds 64 pages")
        var outcome = WritebackOutcome()
        var slots: [Int] = []
        slots.reserveCapacity(Self.repatriationBatch)
        var rest = keys[...]
        while let first = rest.first {
            guard let state = area(of: first.pool) else {
                rest = rest.dropFirst()
                continue
            }
            // Keys of one area, in their order, one batch at a time.
            slots.removeAll(keepingCapacity: true)
            var others: [Key] = []
            for key in rest {
                if key.pool == first.pool && slots.count < Self.repatriationBatch {
                    slots.append(Int(key.index.rawValue))
                } else {
                    others.append(key)
                }
            }
            rest = others[...]
            var seen = Set<Int>()
            slots.removeAll { !seen.insert($0).inserted || $0 >= state.pages }
            outcome.add(slots.withUnsafeBufferPointer { repatriate(state, slots: $0, buffer: buffer) })
        }
        return outcome
    }

    /// Whether `pool` is one of this frontend's areas' pools.
    public func owns(_ pool: PoolID) -> Bool { area(of: pool) != nil }

    /// Moves a batch of one area's slots from transcendent memory to the backing device: one backend
    /// `getBatch`, one device write per page, one `flushBatch` of the pages written; all under the
    /// slots' stripe locks. Slots the map no longer records are skipped.
    ///
    /// - Parameters:
    ///   - slots: Distinct slots of the area, at most ``repatriationBatch``.
    ///   - buffer: Room for that many pages.
    func repatriate(_ state: Area, slots: UnsafeBufferPointer<Int>, buffer: UnsafeMutableRawBufferPointer)
        -> WritebackOutcome
    {
        precondition(slots.count <= Self.repatriationBatch, "a repatriation batch is at most 64 pages")
        var outcome = WritebackOutcome()
        withUnsafeTemporaryAllocation(of: Key.self, capacity: slots.count) { keys in
            withUnsafeTemporaryAllocation(of: UnsafeMutableRawPointer.self, capacity: slots.count) { pages in
                withUnsafeTemporaryAllocation(of: GetResult.self, capacity: slots.count) { gets in
                    state.withSlots(Area.stripes(of: slots)) { counters in
                        var n = 0
                        for slot in slots where state.tmemMap[slot] {
                            keys.initializeElement(at: n, to: state.key(slot))
                            pages.initializeElement(at: n, to: buffer.baseAddress! + n * pageSize)
                            gets.initializeElement(at: n, to: .miss)
                            n += 1
                        }
                        guard n > 0 else { return }
                        let held = UnsafeBufferPointer(rebasing: keys[0..<n])
                        backend.getBatch(held, into: UnsafeBufferPointer(rebasing: pages[0..<n]),
                            results: UnsafeMutableBufferPointer(rebasing: gets[0..<n]))
                        // Written pages are compacted to the front of `keys` for one flushBatch.
                        var written = 0
                        for j in 0..<n {
                            let key = keys[j]
                            let slot = Int(key.index.rawValue)
                            guard case .hit = gets[j] else {
                                // Not a hit, so settleLoad throws: lost (slot emptied, counted there) or
                                // unreachable now (the page stays; a writeback failure).
                                do throws(FrontswapError) { try settleLoad(state, slot: slot, gets[j], &counters) } catch {
                                    if outcome.firstError == nil { outcome.firstError = error }
                                    if !error.isPageLost {
                                        outcome.failed += 1
                                        counters.writebackErrors += 1
                                    }
                                }
                                continue
                            }
                            do throws(BackingDeviceError) {
                                try state.device.write(slot: slot, page: UnsafeRawBufferPointer(start: pages[j], count: pageSize))
                            } catch {
                                counters.deviceErrors += 1
                                counters.writebackErrors += 1
                                outcome.failed += 1
                                if outcome.firstError == nil { outcome.firstError = .device(error) }
                                continue
                            }
                            state.diskMap.set(slot)
                            keys[written] = key
                            written += 1
                        }
                        let moved = UnsafeBufferPointer(rebasing: keys[0..<written])
                        backend.flushBatch(moved)
                        for key in moved {
                            backend.didWriteBack(key)
                            state.tmemMap.clear(Int(key.index.rawValue))
                        }
                        counters.currPages -= written
                        counters.repatriatedPages += written
                        outcome.moved += written
                        _ = gets.baseAddress!.deinitialize(count: n)
                    }
                }
            }
        }
        return outcome
    }
}
