import Testing
import Tmem
import TmemFrontswap
import TmemSwapFile
import TmemTestKit
@testable import TmemZcache

struct ZcacheCapacityTests {
    private func fill(_ z: Zcache, _ pool: PoolID, from: Int, count: Int, rng: inout SeededGenerator) -> [PutResult] {
        (from..<from + count).map { i in
            PageKind.textLike.makePage(using: &rng).withUnsafeBytes {
                z.put(Key(pool: pool, object: ObjectID(rawValue: 0), index: PageIndex(rawValue: UInt32(i))), page: $0)
            }
        }
    }

    @Test func limitIsEnforcedWithHysteresis() throws {
        var rng = seededGenerator("limitIsEnforcedWithHysteresis", default: 3)
        let limit = 2 << 20
        let z = try Zcache(configuration: .init(limit: limit, acceptThresholdPercent: 80))
        let pool = try z.createPool(.persistent)
        let results = fill(z, pool, from: 0, count: 4000, rng: &rng)
        let firstRefusal = try #require(results.firstIndex(of: .refused(.capacity)))
        #expect(results[firstRefusal...].allSatisfy { $0 == .refused(.capacity) }, "refuses until below the threshold")
        let s = z.statistics
        #expect(s.memUsedTotal + s.metadataBytes <= limit)
        #expect(s.poolLimitHit == 4000 - firstRefusal)
        #expect(z.writebackWanted > 0)
        // Flush a few pages: still above 80%, still refusing.
        for i in 0..<10 { z.flushPage(Key(pool: pool, object: ObjectID(rawValue: 0), index: PageIndex(rawValue: UInt32(i)))) }
        #expect(fill(z, pool, from: 5000, count: 1, rng: &rng) == [.refused(.capacity)])
        // Flush down to well under the threshold: accepts again.
        for i in 0..<firstRefusal / 2 {
            z.flushPage(Key(pool: pool, object: ObjectID(rawValue: 0), index: PageIndex(rawValue: UInt32(i))))
        }
        #expect(fill(z, pool, from: 6000, count: 1, rng: &rng) == [.stored])
        #expect(z.writebackWanted == 0)
        // Raising the limit at run time takes effect at once; lowering it refuses.
        try z.setCapacity(0)
        #expect(fill(z, pool, from: 7000, count: 1, rng: &rng) == [.refused(.capacity)])
        try z.setCapacity(64 << 20)
        #expect(fill(z, pool, from: 8000, count: 1, rng: &rng) == [.stored])
    }

    @Test func writebackThroughFrontswapLosesNothing() throws {
        var rng = seededGenerator("ZcacheCapacityTests.writeback", default: 11)
        let dir = TemporaryDirectory()
        let z = try Zcache(configuration: .init(limit: 1 << 20))
        // Driven by hand after each store, as `tmem replay` does, so the outcome does not depend on timing.
        let reclaimer = Reclaimer(backend: z)
        let frontswap = Frontswap(backend: z, reclaimer: reclaimer)
        let pages = 4096
        try frontswap.initArea(SwapArea(0), pages: pages, device: SwapFile(path: dir.file("swap"), slots: pages))
        var model: [Int: [UInt8]] = [:]
        for i in 0..<pages {
            let bytes = PageKind.allCases.randomElement(using: &rng)!.makePage(using: &rng)
            model[i] = bytes
            _ = try bytes.withUnsafeBytes { try frontswap.store(SwapArea(0), offset: PageOffset(i), page: $0) }
            if z.writebackWanted > 0 { reclaimer.reclaim() }
        }
        let s = z.statistics
        #expect(s.writtenBackPages > 0, "the pool is far smaller than the data: it must write back")
        #expect(s.memUsedTotal + s.metadataBytes <= 1 << 20)
        #expect(frontswap.counters.currPages == s.storedPages)
        var buffer = [UInt8](repeating: 0, count: pageSize)
        for i in 0..<pages {
            let result = try buffer.withUnsafeMutableBytes { try frontswap.load(SwapArea(0), offset: PageOffset(i), into: $0) }
            #expect(result != .notStored)
            #expect(buffer == model[i], "offset \(i)")
        }
        // Writeback took the coldest pages: the first stored are on disk, the last in the pool.
        #expect(!frontswap.isHeld(SwapArea(0), offset: PageOffset(0)))
        #expect(frontswap.isHeld(SwapArea(0), offset: PageOffset(pages - 1)))
        #expect(try frontswap.shrink(toPages: 0) == 0)
        #expect(z.statistics.storedPages == 0)
    }
}
