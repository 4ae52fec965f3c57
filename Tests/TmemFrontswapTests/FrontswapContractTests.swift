import Testing
import Tmem
import TmemFrontswap
import TmemSwapFile
import TmemTestKit

/// The frontswap contract of SEMANTICS.md, case by case.
struct FrontswapContractTests {
    @Test func storeThenLoadFromTranscendentMemory() throws {
        let f = Fixture(backend: RAMPool(capacity: 1 << 20))
        try f.initArea(0, pages: 16)
        #expect(try f.store(0, 3, page(1)) == .tmem)
        let (result, bytes) = try f.load(0, 3)
        #expect(result == .tmem)
        #expect(bytes == page(1))
        #expect(f.frontswap.isHeld(SwapArea(0), offset: PageOffset(3)))
        let c = f.frontswap.counters
        #expect(c.succStores == 1 && c.loads == 1 && c.currPages == 1 && c.failedStores == 0)
    }

    @Test func refusedStoreGoesToTheBackingDevice() throws {
        let f = Fixture(backend: RAMPool(capacity: 0))
        let device = try f.initArea(0, pages: 8)
        #expect(try f.store(0, 5, page(2)) == .disk(.capacity))
        #expect(try f.load(0, 5) == (.disk, page(2)))
        // The page really is in the file at offset*4096.
        var raw = [UInt8](repeating: 0, count: pageSize)
        try raw.withUnsafeMutableBytes { try device.read(slot: 5, into: $0) }
        #expect(raw == page(2))
        #expect(f.frontswap.counters.failedStores == 1)
        #expect(f.frontswap.counters.loads == 0)
    }

    @Test func duplicateStoreThatSucceedsReplacesThePage() throws {
        let f = Fixture(backend: RAMPool(capacity: 1 << 20))
        try f.initArea(0, pages: 8)
        #expect(try f.store(0, 1, page(10)) == .tmem)
        #expect(try f.store(0, 1, page(11)) == .tmem)
        #expect(try f.load(0, 1) == (.tmem, page(11)))
        #expect(f.frontswap.currPages == 1)
        #expect(f.frontswap.counters.succStores == 2)
    }

    @Test func duplicateStoreThatIsRefusedDropsTheHeldCopy() throws {
        let ram = RAMPool(capacity: 1 << 20)
        let faulty = FaultyBackend(wrapping: ram)
        let f = Fixture(backend: faulty)
        try f.initArea(0, pages: 8)
        #expect(try f.store(0, 1, page(10)) == .tmem)
        faulty.setRefusalRule { _ in .policy }
        #expect(try f.store(0, 1, page(11)) == .disk(.policy))
        #expect(!f.frontswap.isHeld(SwapArea(0), offset: PageOffset(1)))
        #expect(ram.statistics.storedPages == 0, "the held copy must be dropped, not left stale")
        #expect(try f.load(0, 1) == (.disk, page(11)))
        #expect(f.frontswap.currPages == 0)
    }

    @Test func storeToTranscendentMemoryOverADiskCopyForgetsTheDiskCopy() throws {
        let faulty = FaultyBackend(wrapping: RAMPool(capacity: 1 << 20), refuse: { _ in .capacity })
        let f = Fixture(backend: faulty)
        try f.initArea(0, pages: 8)
        #expect(try f.store(0, 2, page(20)) == .disk(.capacity))
        faulty.setRefusalRule(nil)
        #expect(try f.store(0, 2, page(21)) == .tmem)
        #expect(try f.load(0, 2) == (.tmem, page(21)))
        try f.frontswap.invalidatePage(SwapArea(0), offset: PageOffset(2))
        #expect(try f.load(0, 2).0 == .notStored, "the old disk copy must not come back")
    }

    @Test func invalidateThenLoadFindsNothing() throws {
        let f = Fixture(backend: RAMPool(capacity: 1 << 20))
        try f.initArea(0, pages: 8)
        _ = try f.store(0, 4, page(4))
        #expect(try f.frontswap.invalidatePage(SwapArea(0), offset: PageOffset(4)))
        #expect(try f.load(0, 4).0 == .notStored)
        #expect(try f.load(0, 6).0 == .notStored, "a slot never stored holds nothing")
        #expect(!(try f.frontswap.invalidatePage(SwapArea(0), offset: PageOffset(4))))
        let c = f.frontswap.counters
        #expect(c.invalidates == 1 && c.currPages == 0)
    }

    @Test func invalidateAreaThenStoreThenInitThenStore() throws {
        let ram = RAMPool(capacity: 1 << 20)
        let f = Fixture(backend: ram)
        try f.initArea(0, pages: 8)
        try f.initArea(1, pages: 8)
        _ = try f.store(0, 0, page(1))
        _ = try f.store(0, 1, page(2))
        _ = try f.store(1, 0, page(3))
        #expect(try f.frontswap.invalidateArea(SwapArea(0)) == 2)
        #expect(try f.load(0, 0).0 == .notStored)
        #expect(f.frontswap.currPages == 1)
        #expect(ram.statistics.storedPages == 1)
        // Disabled: stores go to the backing device, and stay loadable from there.
        #expect(try f.store(0, 2, page(4)) == .disk(.areaDisabled))
        #expect(try f.load(0, 2) == (.disk, page(4)))
        // The other area is untouched.
        #expect(try f.load(1, 0) == (.tmem, page(3)))
        // Re-init with the same size enables stores again; disk pages remain.
        try f.initArea(0, pages: 8)
        #expect(try f.store(0, 3, page(5)) == .tmem)
        #expect(try f.load(0, 2) == (.disk, page(4)))
        #expect(try f.load(0, 3) == (.tmem, page(5)))
    }

    @Test func initWithAnotherSizeOrUnknownAreaIsAnError() throws {
        let f = Fixture(backend: RAMPool(capacity: 1 << 20))
        try f.initArea(0, pages: 8)
        #expect(throws: FrontswapError.self) { try f.frontswap.initArea(SwapArea(0), pages: 9, device: f.devices[SwapArea(0)]!) }
        #expect(throws: FrontswapError.self) { try f.store(1, 0, page(1)) }
        #expect(throws: FrontswapError.self) { try f.store(0, 8, page(1)) }
        #expect(throws: FrontswapError.self) { try f.load(0, -1) }
        #expect(throws: FrontswapError.self) { try f.store(99, 0, page(1)) }
        #expect(f.frontswap.counters == FrontswapCounters())
    }

    @Test func shrinkKeepsEveryByte() throws {
        let ram = RAMPool(capacity: 1 << 20)
        let f = Fixture(backend: ram)
        try f.initArea(0, pages: 64)
        try f.initArea(1, pages: 64)
        for i in 0..<40 { #expect(try f.store(i % 2, i, page(i)) == .tmem) }
        #expect(try f.frontswap.shrink(toPages: 10) == 10)
        #expect(ram.statistics.storedPages == 10)
        #expect(f.frontswap.counters.repatriatedPages == 30)
        for i in 0..<40 { #expect(try f.load(i % 2, i).1 == page(i)) }
        #expect(try f.frontswap.shrink(toPages: 0) == 0)
        for i in 0..<40 { #expect(try f.load(i % 2, i) == (.disk, page(i))) }
        let c = f.frontswap.counters
        #expect(c.succStores == 40 && c.failedStores == 0 && c.invalidates == 0)
    }

    @Test func exclusiveLoadTakesThePage() throws {
        let ram = RAMPool(capacity: 1 << 20)
        let f = Fixture(backend: ram, exclusiveLoads: true)
        try f.initArea(0, pages: 8)
        _ = try f.store(0, 1, page(1))
        #expect(try f.load(0, 1) == (.tmem, page(1)))
        #expect(ram.statistics.storedPages == 0)
        #expect(f.frontswap.currPages == 0)
        #expect(try f.load(0, 1).0 == .notStored)
    }

    @Test(arguments: PageKind.allCases)
    func everyPageKindRoundTrips(kind: PageKind) throws {
        let f = Fixture(backend: RAMPool(capacity: 1 << 20))
        try f.initArea(0, pages: 4)
        _ = try f.store(0, 0, page(7, kind: kind))
        #expect(try f.load(0, 0) == (.tmem, page(7, kind: kind)))
    }
}
