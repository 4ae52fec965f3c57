import Testing
import Tmem
import TmemTestKit
import TmemZPool

/// Randomised allocate/free/write/read against a dictionary model.
struct ZPoolModelTests {
    @Test func randomOperationsMatchADictionaryModel() throws {
        var random = seededGenerator("randomOperationsMatchADictionaryModel", default: 0x7A70_6F6F_6C01)
        let pool = try ZPool()
        var model: [ZPoolHandle: ModelObject] = [:]
        var live: [ZPoolHandle] = []  // the model's keys, for picking one at random
        var requestedBytes = 0
        var nextKey: UInt64 = 1

        for step in 0..<20_000 {
            let roll = Int.random(in: 0..<100, using: &random)
            if live.isEmpty || (roll < 50 && live.count < 3_000) {
                let size = Int.random(in: 1...ZPool.maxObjectSize, using: &random)
                let handle = try #require(pool.allocate(size: size))
                #expect(handle.rawValue != 0)
                #expect(model[handle] == nil, "handle \(handle) handed out twice")
                let capacity = pool.objectCapacity(of: handle)
                #expect(capacity >= size && capacity <= ZPool.maxObjectSize && capacity % 16 == 0)
                fill(pool, handle, key: nextKey)
                model[handle] = ModelObject(size: size, key: nextKey)
                live.append(handle)
                requestedBytes += size
                nextKey += 1
            } else if roll < 80 {
                let index = Int.random(in: live.indices, using: &random)
                live.swapAt(index, live.count - 1)
                let handle = live.removeLast()
                let removed = model.removeValue(forKey: handle)
                let object = try #require(removed)
                #expect(holds(pool, handle, key: object.key), "object \(handle) corrupted before free")
                pool.free(handle)
                requestedBytes -= object.size
            } else if roll < 90 {
                let handle = live[Int.random(in: live.indices, using: &random)]
                model[handle]!.key = nextKey
                fill(pool, handle, key: nextKey)
                nextKey += 1
            } else {
                let handle = live[Int.random(in: live.indices, using: &random)]
                #expect(holds(pool, handle, key: model[handle]!.key), "object \(handle) corrupted")
            }
            if step % 2_500 == 0 {
                let stats = pool.stats
                #expect(stats.allocatedObjects == model.count)
                #expect(stats.allocatedBytes == requestedBytes)
                #expect(stats.spanBytes >= requestedBytes && stats.maxSpanBytes >= stats.spanBytes)
                checkInvariantsIfCompiledIn(pool)
            }
        }

        for (handle, object) in model {
            #expect(holds(pool, handle, key: object.key), "object \(handle) corrupted")
        }
        let beforeDrain = pool.stats
        #expect(beforeDrain.allocatedObjects == model.count)
        #expect(beforeDrain.allocatedBytes == requestedBytes)
        for handle in live { pool.free(handle) }
        let after = pool.stats
        #expect(after.allocatedObjects == 0)
        #expect(after.allocatedBytes == 0)
        #expect(after.spanBytes == 0)
        #expect(after.spansFreed > 0)
        checkInvariantsIfCompiledIn(pool)
    }

    @Test(arguments: [1, 16, 17, 100, 1_000, 1_700, 2_048, 3_000, 4_000, 4_096])
    func fillingAndDrainingOneSizeReturnsEverySpan(size: Int) throws {
        let pool = try ZPool()
        var handles: [ZPoolHandle] = []
        for key in 0..<2_000 {
            let handle = try #require(pool.allocate(size: size))
            fill(pool, handle, key: UInt64(key))
            handles.append(handle)
        }
        #expect(Set(handles).count == handles.count)
        #expect(pool.stats.allocatedBytes == size * handles.count)
        checkInvariantsIfCompiledIn(pool)
        for (key, handle) in handles.enumerated() {
            #expect(holds(pool, handle, key: UInt64(key)))
            pool.free(handle)
        }
        #expect(pool.stats == ZPoolStats(
            metadataBytes: pool.stats.metadataBytes, maxSpanBytes: pool.stats.maxSpanBytes,
            spansFreed: pool.stats.spansFreed
        ))
        checkInvariantsIfCompiledIn(pool)
    }
}
