import Testing
import Tmem
import TmemFrontswap
import TmemSwapFile
import TmemTestKit

/// Failures of the places a page can live: nothing stored is lost, nothing stale comes back.
struct FrontswapFailureTests {
    @Test func fullDiskFailsTheStoreAndLeavesNoStalePage() throws {
        // Every write fails with ENOSPC, as on a full disk.
        let tmp = TemporaryDirectory()
        let full = FaultyDevice(wrapping: try SwapFile(path: tmp.file("swap"), slots: 8))
        full.setFailWrites(true)
        let faulty = FaultyBackend(wrapping: RAMPool(capacity: pageSize))
        let f = Fixture(backend: faulty)
        try f.initArea(0, pages: 8, device: full)
        #expect(try f.store(0, 0, page(1)) == .tmem)
        // The pool is full: the next store is refused, and the disk write fails.
        let error = #expect(throws: FrontswapError.self) { try f.store(0, 1, page(2)) }
        #expect(error?.isDeviceError == true)
        #expect(error?.deviceError?.errno == .noSpace)
        #expect(try f.load(0, 1).0 == .notStored)
        // A refused store over a held slot whose disk write fails: the old page must not come back.
        faulty.setRefusalRule { _ in .policy }
        #expect(throws: FrontswapError.self) { try f.store(0, 0, page(3)) }
        #expect(try f.load(0, 0).0 == .notStored)
        #expect(f.frontswap.counters.deviceErrors == 2)
        #expect(f.frontswap.counters.failedStores == 0)
    }

    @Test func shrinkOntoAFailingDeviceKeepsThePagesInTranscendentMemory() throws {
        let tmp = TemporaryDirectory()
        let device = FaultyDevice(wrapping: try SwapFile(path: tmp.file("swap"), slots: 16))
        let f = Fixture(backend: RAMPool(capacity: 1 << 20))
        try f.initArea(0, pages: 16, device: device)
        for i in 0..<8 { _ = try f.store(0, i, page(i)) }
        device.setFailWrites(true)
        #expect(throws: FrontswapError.self) { try f.frontswap.shrink(toPages: 0) }
        #expect(f.frontswap.currPages == 8)
        device.setFailWrites(false)
        for i in 0..<8 { #expect(try f.load(0, i) == (.tmem, page(i))) }
        #expect(try f.frontswap.shrink(toPages: 0) == 0)
        for i in 0..<8 { #expect(try f.load(0, i) == (.disk, page(i))) }
    }

    @Test func failedDeviceReadIsAnErrorNotData() throws {
        let tmp = TemporaryDirectory()
        let device = FaultyDevice(wrapping: try SwapFile(path: tmp.file("swap"), slots: 4))
        let f = Fixture(backend: RAMPool(capacity: 0))
        try f.initArea(0, pages: 4, device: device)
        _ = try f.store(0, 0, page(1))
        device.setFailReads(true)
        #expect(throws: FrontswapError.self) { try f.load(0, 0) }
        device.setFailReads(false)
        #expect(try f.load(0, 0) == (.disk, page(1)))
    }

    @Test func damagedPageIsAnErrorAndIsDropped() throws {
        let faulty = FaultyBackend(wrapping: RAMPool(capacity: 1 << 20))
        let f = Fixture(backend: faulty)
        try f.initArea(0, pages: 4)
        _ = try f.store(0, 2, page(1))
        let pool = PoolID(rawValue: 1)
        faulty.corrupt(Key(pool: pool, object: ObjectID(rawValue: 0), index: PageIndex(rawValue: 2)))
        #expect(throws: FrontswapError.self) { try f.load(0, 2) }
        #expect(try f.load(0, 2).0 == .notStored)
        #expect(f.frontswap.currPages == 0)
    }

    @Test func unwritablePathIsAClearError() {
        let error = #expect(throws: BackingDeviceError.self) {
            try SwapFile(path: "/proc/tmem-no-such-dir/swap", slots: 4)
        }
        #expect(error?.message.contains("/proc/tmem-no-such-dir/swap") == true)
        #expect(throws: BackingDeviceError.self) { try SwapFile(path: "/", slots: 4) }
    }
}
