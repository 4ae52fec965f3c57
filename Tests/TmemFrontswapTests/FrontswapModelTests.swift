import Synchronization
import Testing
import Tmem
import TmemFrontswap
import TmemSwapFile
import TmemTestKit

/// Thousands of random operations against the reference model: every load returns the bytes of the last
/// store to its slot (never stale, never lost) and every counter equals what the outcomes add up to.
struct FrontswapModelTests {
    @Test(arguments: [false, true])
    func randomOperationsMatchTheModel(exclusiveLoads: Bool) throws {
        var rng = seededGenerator(
            "FrontswapModelTests(exclusiveLoads: \(exclusiveLoads))", default: exclusiveLoads ? 0xF00D : 0xBEEF)
        let ram = RAMPool(capacity: 24 * pageSize)
        let f = Fixture(backend: ram, exclusiveLoads: exclusiveLoads)
        let pages = 96
        for area in 0..<2 { try f.initArea(area, pages: pages) }
        var model = FrontswapModel()
        var disabled: Set<Int> = []
        for step in 0..<6_000 {
            let area = Int(rng.next() % 2)
            let offset = Int(rng.next() % UInt64(pages))
            let id = SwapArea(area)
            switch rng.next() % 100 {
            case 0..<45:
                let bytes = page(Int(rng.next() % 1000), kind: PageKind.allCases.randomElement(using: &rng)!)
                let result = try f.store(area, offset, bytes)
                if disabled.contains(area) { #expect(result == .disk(.areaDisabled)) }
                model.stored(id, offset, bytes, result: result)
            case 45..<80:
                let (result, bytes) = try f.load(area, offset)
                if let want = model.expectedBytes(id, offset) {
                    #expect(result != .notStored, "step \(step): \(id) \(offset) lost")
                    #expect(bytes == want, "step \(step): \(id) \(offset) stale or wrong")
                } else {
                    #expect(result == .notStored, "step \(step): \(id) \(offset) should hold nothing")
                }
                model.loaded(result, exclusive: exclusiveLoads, id, offset)
            case 80..<92:
                model.invalidated(id, offset, dropped: try f.frontswap.invalidatePage(id, offset: PageOffset(offset)))
            case 92..<95:
                try ram.setCapacity(Int(rng.next() % 48) * pageSize)
            case 95..<97:
                _ = try f.frontswap.shrink(toPages: Int(rng.next() % 24))
            case 97..<99:
                try f.initArea(area, pages: pages)
                disabled.remove(area)
            default:
                let held = (0..<pages).filter { f.frontswap.isHeld(id, offset: PageOffset($0)) }
                #expect(try f.frontswap.invalidateArea(id) == held.count)
                model.areaInvalidated(id, heldOffsets: held)
                disabled.insert(area)
            }
            let c = f.frontswap.counters
            #expect(c.succStores == model.expected.succStores)
            #expect(c.failedStores == model.expected.failedStores)
            #expect(c.loads == model.expected.loads)
            #expect(c.invalidates == model.expected.invalidates)
            #expect(c.currPages == ram.statistics.storedPages, "step \(step): map and backend disagree")
        }
        for area in 0..<2 {
            for offset in 0..<pages {
                let (result, bytes) = try f.load(area, offset)
                #expect(bytes == model.expectedBytes(SwapArea(area), offset) ?? bytes)
                #expect((result == .notStored) == (model.expectedBytes(SwapArea(area), offset) == nil))
            }
        }
    }
}

/// Several threads at once, each on its own slots, with shrinks and capacity changes racing them.
struct FrontswapConcurrencyTests {
    @Test func concurrentStoresLoadsAndInvalidatesStayExact() throws {
        let seed = testSeed("FrontswapConcurrencyTests", default: 0xC0FFEE)
        let ram = RAMPool(capacity: 200 * pageSize)
        let f = Fixture(backend: ram)
        let threads = 4
        let slotsPerThread = 128
        try f.initArea(0, pages: threads * slotsPerThread)
        let frontswap = f.frontswap
        let failures = Atomic<Int>(0)
        let totals = Mutex((counters: FrontswapCounters(), contents: [Int: [UInt8]]()))
        try runConcurrently(threads: threads + 1) { worker in
            var rng = SeededGenerator(seed: seed &+ UInt64(worker))
            if worker == threads {
                // The shrinker and resizer.
                for i in 0..<300 {
                    if i % 2 == 0 { _ = try frontswap.shrink(toPages: Int(rng.next() % 100)) }
                    else { try ram.setCapacity(Int(rng.next() % 300) * pageSize) }
                }
                return
            }
            var model = FrontswapModel()
            let base = worker * slotsPerThread
            var buffer = [UInt8](repeating: 0, count: pageSize)
            for _ in 0..<4_000 {
                let offset = base + Int(rng.next() % UInt64(slotsPerThread))
                switch rng.next() % 10 {
                case 0..<5:
                    let bytes = page(Int(rng.next() % 500))
                    let result = try bytes.withUnsafeBytes {
                        try frontswap.store(SwapArea(0), offset: PageOffset(offset), page: $0)
                    }
                    model.stored(SwapArea(0), offset, bytes, result: result)
                case 5..<9:
                    let result = try buffer.withUnsafeMutableBytes {
                        try frontswap.load(SwapArea(0), offset: PageOffset(offset), into: $0)
                    }
                    let want = model.expectedBytes(SwapArea(0), offset)
                    if (result == .notStored) != (want == nil) || (want != nil && buffer != want!) {
                        failures.add(1, ordering: .relaxed)
                    }
                    model.loaded(result, exclusive: false, SwapArea(0), offset)
                default:
                    let dropped = try frontswap.invalidatePage(SwapArea(0), offset: PageOffset(offset))
                    model.invalidated(SwapArea(0), offset, dropped: dropped)
                }
            }
            let finished = model
            totals.withLock { total in
                total.contents.merge(finished.contents[SwapArea(0)] ?? [:]) { a, _ in a }
                total.counters.succStores += finished.expected.succStores
                total.counters.failedStores += finished.expected.failedStores
                total.counters.loads += finished.expected.loads
                total.counters.invalidates += finished.expected.invalidates
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
        let c = frontswap.counters
        let expected = totals.withLock { $0.counters }
        #expect(c.succStores == expected.succStores)
        #expect(c.failedStores == expected.failedStores)
        #expect(c.loads == expected.loads)
        #expect(c.invalidates == expected.invalidates)
        #expect(c.currPages == ram.statistics.storedPages)
        let contents = totals.withLock { $0.contents }
        for offset in 0..<(threads * slotsPerThread) {
            let (result, bytes) = try f.load(0, offset)
            if let want = contents[offset] { #expect(bytes == want) } else { #expect(result == .notStored) }
        }
    }
}
