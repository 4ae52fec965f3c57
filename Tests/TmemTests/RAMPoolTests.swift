import Synchronization
import Testing
import Tmem
import TmemTestKit

private func key(_ pool: PoolID, _ index: Int, object: UInt64 = 0) -> Key {
    Key(pool: pool, object: ObjectID(rawValue: object), index: PageIndex(rawValue: UInt32(index)))
}

private func page(_ seed: Int) -> [UInt8] {
    var rng = SeededGenerator(seed: UInt64(seed))
    return PageKind.textLike.makePage(using: &rng)
}

struct RAMPoolTests {
    @Test func putGetFlushFollowTheContract() throws {
        let ram = RAMPool(capacity: 2 * pageSize)
        let pool = try ram.createPool(.persistent)
        #expect(page(1).withUnsafeBytes { ram.put(key(pool, 1), page: $0) } == .stored)
        #expect(page(2).withUnsafeBytes { ram.put(key(pool, 2), page: $0) } == .stored)
        #expect(page(3).withUnsafeBytes { ram.put(key(pool, 3), page: $0) } == .refused(.capacity))
        #expect(page(4).withUnsafeBytes { ram.put(key(pool, 1), page: $0) } == .stored, "a replace needs no room")
        var out = [UInt8](repeating: 0, count: pageSize)
        #expect(try out.withUnsafeMutableBytes { try ram.get(key(pool, 1), into: $0) })
        #expect(out == page(4))
        #expect(try !out.withUnsafeMutableBytes { try ram.get(key(pool, 3), into: $0) })
        #expect(ram.flushPage(key(pool, 1)))
        #expect(!ram.flushPage(key(pool, 1)))
        #expect(ram.statistics.storedPages == 1 && ram.usedBytes == pageSize)
        ram.destroyPool(pool)
        #expect(ram.statistics.storedPages == 0 && ram.usedBytes == 0)
        #expect(page(1).withUnsafeBytes { ram.put(key(pool, 1), page: $0) } == .refused(.noSuchPool))
    }

    @Test func flushObjectDropsOnlyThatObject() throws {
        let ram = RAMPool(capacity: 1 << 20)
        let pool = try ram.createPool(.persistent)
        for i in 0..<20 { _ = page(i).withUnsafeBytes { ram.put(key(pool, i, object: UInt64(i % 2)), page: $0) } }
        #expect(ram.flushObject(pool: pool, object: ObjectID(rawValue: 1)) == 10)
        #expect(ram.statistics.storedPages == 10)
    }

    @Test func loweringCapacityDropsEphemeralPagesOnly() throws {
        let ram = RAMPool(capacity: 1 << 20)
        let persistent = try ram.createPool(.persistent)
        let ephemeral = try ram.createPool(.ephemeral)
        for i in 0..<10 {
            _ = page(i).withUnsafeBytes { ram.put(key(persistent, i), page: $0) }
            _ = page(i).withUnsafeBytes { ram.put(key(ephemeral, i), page: $0) }
        }
        try ram.setCapacity(4 * pageSize)
        #expect(ram.statistics.storedPages == 10, "persistent pages stay, ephemeral ones go")
        var out = [UInt8](repeating: 0, count: pageSize)
        for i in 0..<10 {
            #expect(try out.withUnsafeMutableBytes { try ram.get(key(persistent, i), into: $0) })
            #expect(out == page(i))
        }
    }

    @Test func concurrentPutsAndGetsOnSeveralThreads() throws {
        let ram = RAMPool(capacity: 64 * pageSize)
        let pool = try ram.createPool(.persistent)
        let failures = Atomic<Int>(0)
        let seed = testSeed("concurrentPutsAndGetsOnSeveralThreads", default: 0)
        try runConcurrently(threads: 4) { worker in
            var model: [Int: Int] = [:]
            var rng = SeededGenerator(seed: seed &+ UInt64(worker))
            var out = [UInt8](repeating: 0, count: pageSize)
            for _ in 0..<2000 {
                let index = worker * 1000 + Int(rng.next() % 40)
                if rng.next() % 2 == 0 {
                    let seed = Int(rng.next() % 100)
                    let result = page(seed).withUnsafeBytes { ram.put(key(pool, index), page: $0) }
                    model[index] = result == .stored ? seed : nil
                } else {
                    let hit = try out.withUnsafeMutableBytes { try ram.get(key(pool, index), into: $0) }
                    if hit != (model[index] != nil) || (hit && out != page(model[index]!)) {
                        failures.add(1, ordering: .relaxed)
                    }
                }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
        #expect(ram.usedBytes <= 64 * pageSize)
        #expect(ram.statistics.storedPages * pageSize == ram.usedBytes)
    }
}
