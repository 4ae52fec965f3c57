import Testing
import Tmem
import TmemFrontswap
import TmemSwapFile
import TmemTestKit
@testable import TmemZcache

/// Writeback as a first-class part of the frontend: off the store path, by a reclaimer with watermarks,
/// fair across frontends sharing a backend, visible through wrappers, and unable to lose a page.
struct ZcacheReclaimTests {
    /// A frontend over its own swap file, storing pages named by `tag`.
    final class Client {
        let frontswap: Frontswap
        let device: FaultyDevice
        let pages: Int
        private(set) var model: [Int: [UInt8]] = [:]

        init(_ backend: any Backend, _ reclaimer: Reclaimer?, pages: Int, directory: TemporaryDirectory, name: String) throws {
            self.pages = pages
            frontswap = Frontswap(backend: backend, reclaimer: reclaimer)
            device = FaultyDevice(wrapping: try SwapFile(path: directory.file(name), slots: pages))
            try frontswap.initArea(SwapArea(0), pages: pages, device: device)
        }

        func store(_ offsets: Range<Int>, tag: Int, rng: inout SeededGenerator) throws {
            for i in offsets {
                var bytes = PageKind.textLike.makePage(using: &rng)
                withUnsafeBytes(of: UInt64(tag &* 1_000_003 &+ i)) { for (j, b) in $0.enumerated() { bytes[j] = b } }
                _ = try bytes.withUnsafeBytes { try frontswap.store(SwapArea(0), offset: PageOffset(i), page: $0) }
                model[i] = bytes
            }
        }

        /// Offsets whose page does not read back exactly.
        func mismatches() throws -> [Int] {
            var buffer = [UInt8](repeating: 0, count: pageSize)
            return try model.keys.sorted().filter { i in
                let result = try buffer.withUnsafeMutableBytes {
                    try frontswap.load(SwapArea(0), offset: PageOffset(i), into: $0)
                }
                return result == .notStored || buffer != model[i]
            }
        }

        var held: Int { frontswap.counters.currPages }
    }

    @Test func storesNeverWriteBackOnTheStoringThread() throws {
        var rng = seededGenerator("storesNeverWriteBackOnTheStoringThread", default: 5)
        let dir = TemporaryDirectory()
        let z = try Zcache(configuration: .init(limit: 1 << 20))
        let reclaimer = Reclaimer(backend: z)  // not started: only reclaim() below moves pages
        let client = try Client(z, reclaimer, pages: 2048, directory: dir, name: "swap")
        try client.store(0..<2048, tag: 1, rng: &rng)
        #expect(client.frontswap.counters.repatriatedPages == 0, "a store must not do the reclaimer's work")
        #expect(client.frontswap.counters.failedStores > 0, "the pool filled and refused")
        #expect(z.writebackWanted > 0)
        let outcome = reclaimer.reclaim()
        #expect(outcome.moved > 0 && outcome.failed == 0)
        #expect(z.writebackWanted == 0, "one round brings the pool under its low watermark")
        #expect(client.frontswap.counters.repatriatedPages == outcome.moved)
        #expect(z.statistics.writtenBackPages == outcome.moved)
        #expect(try client.mismatches().isEmpty)
    }

    @Test func theReclaimerThreadWorksAheadOfTheLimit() throws {
        var rng = seededGenerator("theReclaimerThreadWorksAheadOfTheLimit", default: 6)
        let dir = TemporaryDirectory()
        let z = try Zcache(configuration: .init(limit: 1 << 20))
        let reclaimer = Reclaimer(backend: z)
        try reclaimer.start()
        defer { reclaimer.stop() }
        let client = try Client(z, reclaimer, pages: 2048, directory: dir, name: "swap")
        try client.store(0..<2048, tag: 2, rng: &rng)
        // Each awaited round began after the stores; a few suffice to reach the low watermark.
        for _ in 0..<8 where z.writebackWanted > 0 {
            #expect(reclaimer.awaitRound(timeoutNanoseconds: 10_000_000_000), "the reclaimer thread answers")
        }
        #expect(z.writebackWanted == 0)
        #expect(reclaimer.statistics.writtenBackPages > 0)
        #expect(client.frontswap.counters.repatriatedPages == reclaimer.statistics.writtenBackPages)
        #expect(try client.mismatches().isEmpty)
    }

    @Test func frontendsSharingABackendEachGetBackOnlyTheirOwnPagesAndNoneStarves() throws {
        var rng = seededGenerator("frontendsSharingABackend", default: 7)
        let dir = TemporaryDirectory()
        let z = try Zcache(configuration: .init(limit: 1 << 20))
        let reclaimer = Reclaimer(backend: z)
        let cold = try Client(z, reclaimer, pages: 1024, directory: dir, name: "cold")
        let busy = try Client(z, reclaimer, pages: 4096, directory: dir, name: "busy")
        // The cold client fills half the pool and goes quiet; the busy one stores on and on.
        try cold.store(0..<400, tag: 3, rng: &rng)
        reclaimer.reclaim()
        for round in 0..<8 {
            let before = busy.frontswap.counters.succStores
            try busy.store(round * 400..<(round + 1) * 400, tag: 4, rng: &rng)
            // Every round finds room made by the last reclaim, though the coldest pages, the first to
            // go, were all the quiet client's (a frontend that could repatriate only its own pages,
            // when it stored, would starve here).
            #expect(busy.frontswap.counters.succStores > before, "round \(round): the busy client is starved")
            reclaimer.reclaim()
        }
        // The coldest pages were the quiet client's: they went to *its* swap file, by its own frontend.
        #expect(cold.frontswap.counters.repatriatedPages > 0)
        #expect(cold.frontswap.counters.repatriatedPages == cold.frontswap.counters.succStores - cold.held)
        #expect(try cold.mismatches().isEmpty)
        #expect(try busy.mismatches().isEmpty)
        #expect(cold.held + busy.held == z.statistics.storedPages)
    }

    @Test func aPageThatCannotBeWrittenBackStaysHeld() throws {
        var rng = seededGenerator("aPageThatCannotBeWrittenBackStaysHeld", default: 8)
        let dir = TemporaryDirectory()
        let z = try Zcache(configuration: .init(limit: 1 << 20))
        let reclaimer = Reclaimer(backend: z)
        let client = try Client(z, reclaimer, pages: 2048, directory: dir, name: "swap")
        try client.store(0..<1200, tag: 5, rng: &rng)
        let held = client.held
        client.device.setFailWrites(true)
        try? client.store(1200..<2048, tag: 5, rng: &rng)  // refused stores fail on the device too
        let outcome = reclaimer.reclaim()
        #expect(outcome.moved == 0 && outcome.failed > 0)
        #expect(outcome.firstError?.isDeviceError == true)
        #expect(reclaimer.statistics.lastError?.contains("No space left") == true)
        #expect(client.frontswap.counters.writebackErrors >= outcome.failed)
        #expect(client.held == held, "nothing left transcendent memory")
        client.device.setFailWrites(false)
        // Pages whose store failed on the device are not in the model's promise; the rest must read back.
        var buffer = [UInt8](repeating: 0, count: pageSize)
        for i in 0..<1200 {
            let result = try buffer.withUnsafeMutableBytes { try client.frontswap.load(SwapArea(0), offset: PageOffset(i), into: $0) }
            #expect(result != .notStored && buffer == client.model[i], "offset \(i)")
        }
        #expect(reclaimer.reclaim().moved > 0, "once the device works again, writeback resumes")
    }

    @Test func aFrontendWhoseDeviceFailsDoesNotStallTheOthers() throws {
        var rng = seededGenerator("aFrontendWhoseDeviceFailsDoesNotStallTheOthers", default: 12)
        let dir = TemporaryDirectory()
        let z = try Zcache(configuration: .init(limit: 1 << 20))
        let reclaimer = Reclaimer(backend: z)
        let stuck = try Client(z, reclaimer, pages: 1024, directory: dir, name: "stuck")
        let healthy = try Client(z, reclaimer, pages: 2048, directory: dir, name: "healthy")
        // The coldest pages belong to a client whose disk is full: they cannot move.
        try stuck.store(0..<300, tag: 7, rng: &rng)
        stuck.device.setFailWrites(true)
        try healthy.store(0..<2048, tag: 8, rng: &rng)
        let outcome = reclaimer.reclaim()
        #expect(outcome.failed > 0, "the stuck client's pages were tried")
        #expect(healthy.frontswap.counters.repatriatedPages > 0, "the healthy client's pages moved past them")
        #expect(stuck.frontswap.counters.repatriatedPages == 0)
        stuck.device.setFailWrites(false)
        #expect(try stuck.mismatches().isEmpty)
        #expect(try healthy.mismatches().isEmpty)
    }

    @Test func writebackSeesThroughAWrappingBackend() throws {
        var rng = seededGenerator("writebackSeesThroughAWrappingBackend", default: 9)
        let dir = TemporaryDirectory()
        let wrapped = FaultyBackend(wrapping: try Zcache(configuration: .init(limit: 1 << 20)))
        let reclaimer = Reclaimer(backend: wrapped)
        let client = try Client(wrapped, reclaimer, pages: 2048, directory: dir, name: "swap")
        try client.store(0..<2048, tag: 6, rng: &rng)
        #expect(wrapped.writebackWanted > 0)
        #expect(reclaimer.reclaim().moved > 0)
        #expect(try client.mismatches().isEmpty)
    }

    @Test func compactionRunsAsMaintenanceOffThePutPath() throws {
        var rng = seededGenerator("compactionRunsAsMaintenanceOffThePutPath", default: 10)
        let z = try Zcache(configuration: .init(limit: 64 << 20))
        let pool = try z.createPool(.persistent)
        func key(_ i: Int) -> Key { Key(pool: pool, object: ObjectID(rawValue: 0), index: PageIndex(rawValue: UInt32(i))) }
        var model: [Int: [UInt8]] = [:]
        for i in 0..<8192 {
            let bytes = PageKind.textLike.makePage(using: &rng)
            #expect(bytes.withUnsafeBytes { z.put(key(i), page: $0) } == .stored)
            model[i] = bytes
        }
        for i in 0..<8192 where rng.next() % 4 != 0 {
            z.flushPage(key(i))
            model[i] = nil
        }
        let before = z.statistics.poolTotalSize
        var steps = 0
        while z.performMaintenance() { steps += 1 }
        #expect(steps > 0, "a fragmented pool is compacted in several steps")
        #expect(!z.performMaintenance(), "and then there is nothing left to do")
        #expect(z.statistics.poolTotalSize < before / 2)
        var buffer = [UInt8](repeating: 0, count: pageSize)
        for (i, bytes) in model {
            #expect(try buffer.withUnsafeMutableBytes { try z.get(key(i), into: $0) } && buffer == bytes)
        }
    }
}
