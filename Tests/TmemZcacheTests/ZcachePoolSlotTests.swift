import Testing
import Tmem
import TmemZcache

/// Zcache's pool slots (a pool id's low 12 bits): all of them are usable, and a freed one is found
/// whichever slot it is.
struct ZcachePoolSlotTests {
    @Test func everyFreedSlotCanBeUsedWhenAllOthersAreLive() throws {
        let z = try Zcache(configuration: .init(limit: 1 << 20))
        var live: [PoolID] = []
        for _ in 1..<Zcache.maxPools { live.append(try z.createPool(.persistent)) }
        #expect(throws: TmemError.self, "slot 0 is never used: one pool less than maxPools") {
            try z.createPool(.persistent)
        }
        #expect(Set(live).count == live.count)
        // Free the slot handed out last (where the search for a free slot starts), then one in the middle.
        for victim in [live.count - 1, live.count / 2] {
            let old = live[victim]
            z.destroyPool(old)
            let again = try #require(try? z.createPool(.ephemeral), "the one free slot (pool \(old.rawValue & 0xFFF)) was not found")
            #expect(again != old && again.rawValue & 0xFFF == old.rawValue & 0xFFF)
            #expect(z.usage(of: old) == nil && z.usage(of: again) == PoolUsage())
            live[victim] = again
        }
        for pool in live { z.destroyPool(pool) }
        #expect(z.statistics.storedPages == 0)
    }
}
