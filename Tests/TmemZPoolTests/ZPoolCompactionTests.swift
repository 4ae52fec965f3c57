import Testing
import Tmem
import TmemTestKit
import TmemZPool

/// `compact(relocate:)`: objects move, bytes survive, spans go back to the OS.
struct ZPoolCompactionTests {
    /// Allocates `count` objects drawn from `sizes`, then frees all but `keepPercent` of them at random.
    private func fragment(
        _ pool: ZPool,
        count: Int,
        sizes: ClosedRange<Int>,
        keepPercent: Int,
        using random: inout SeededGenerator
    ) throws -> [ZPoolHandle: ModelObject] {
        var model: [ZPoolHandle: ModelObject] = [:]
        for key in 1...UInt64(count) {
            let size = Int.random(in: sizes, using: &random)
            let handle = try #require(pool.allocate(size: size))
            fill(pool, handle, key: key)
            model[handle] = ModelObject(size: size, key: key)
        }
        for (handle, _) in model where Int.random(in: 0..<100, using: &random) >= keepPercent {
            pool.free(handle)
            model[handle] = nil
        }
        return model
    }

    /// Compacts, applying each relocation to `model` and checking it names a live old and an unused new.
    private func compact(_ pool: ZPool, _ model: inout [ZPoolHandle: ModelObject]) -> (returned: Int, moves: Int) {
        var moves = 0
        let returned = pool.compact { old, new in
            #expect(model[new] == nil, "compaction reused live handle \(new)")
            guard let object = model.removeValue(forKey: old) else {
                Issue.record("compaction moved unknown handle \(old)")
                return
            }
            model[new] = object
            moves += 1
        }
        return (returned, moves)
    }

    @Test func compactingAFragmentedClassKeepsBytesAndReturnsSpans() throws {
        var random = seededGenerator("compactingAFragmentedClassKeepsBytesAndReturnsSpans", default: 0x7A70_6F6F_6C02)
        let pool = try ZPool()
        var model = try fragment(pool, count: 6_000, sizes: 1_000...1_008, keepPercent: 15, using: &random)
        let before = pool.stats
        checkInvariantsIfCompiledIn(pool)

        let (returned, moves) = compact(pool, &model)

        let after = pool.stats
        #expect(returned > 0)
        #expect(after.spanBytes == before.spanBytes - returned)
        #expect(after.spanBytes < before.spanBytes / 3, "15% live should fit in well under a third of the spans")
        #expect(after.compactedObjects == moves && moves > 0)
        #expect(after.allocatedObjects == model.count && after.allocatedBytes == before.allocatedBytes)
        for (handle, object) in model {
            #expect(holds(pool, handle, key: object.key), "object \(handle) corrupted by compaction")
            #expect(pool.objectCapacity(of: handle) >= object.size)
        }
        checkInvariantsIfCompiledIn(pool)

        #expect(compact(pool, &model) == (0, 0), "a second compaction has nothing left to gain")
        for handle in model.keys { pool.free(handle) }
        #expect(pool.stats.spanBytes == 0 && pool.stats.allocatedObjects == 0 && pool.stats.allocatedBytes == 0)
    }

    @Test func compactingEveryClassKeepsBytesAndAccounting() throws {
        var random = seededGenerator("compactingEveryClassKeepsBytesAndAccounting", default: 0x7A70_6F6F_6C03)
        let pool = try ZPool()
        var model = try fragment(pool, count: 20_000, sizes: 1...4_096, keepPercent: 30, using: &random)
        let before = pool.stats

        let (returned, moves) = compact(pool, &model)

        let after = pool.stats
        #expect(returned > 0 && moves > 0)
        #expect(after.spanBytes == before.spanBytes - returned)
        #expect(after.allocatedBytes == model.values.reduce(0) { $0 + $1.size })
        for (handle, object) in model {
            #expect(holds(pool, handle, key: object.key), "object \(handle) corrupted by compaction")
        }
        checkInvariantsIfCompiledIn(pool)
        for handle in model.keys { pool.free(handle) }
        #expect(pool.stats.spanBytes == 0 && pool.stats.allocatedObjects == 0 && pool.stats.allocatedBytes == 0)
    }

    @Test func compactingADensePoolMovesNothing() throws {
        let pool = try ZPool()
        let handles = (0..<500).map { _ in pool.allocate(size: 700)! }
        #expect(pool.compact { _, _ in Issue.record("nothing should move") } == 0)
        for handle in handles { pool.free(handle) }
        #expect(pool.stats.spanBytes == 0)
    }
}
