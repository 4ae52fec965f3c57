import Synchronization
import Testing
import Tmem
import TmemTestKit
@testable import TmemZcache

struct ZcacheConcurrencyTests {
    @Test func concurrentStoreLoadFlushMatchesEachThreadsModel() throws {
        let seed = testSeed("ZcacheConcurrencyTests", default: 0x5EED)
        let z = try Zcache(configuration: .init(limit: 8 << 20))
        let pool = try z.createPool(.persistent)
        let failures = Atomic<Int>(0)
        let threads = 4
        try runConcurrently(threads: threads) { worker in
            var rng = SeededGenerator(seed: seed &+ UInt64(worker))
            var model: [UInt32: [UInt8]] = [:]
            var buffer = [UInt8](repeating: 0, count: pageSize)
            for _ in 0..<3000 {
                // Each thread owns the indexes congruent to its number, spread over shared chunks.
                let index = UInt32(Int(rng.next() % 256) * threads + worker)
                let k = Key(pool: pool, object: ObjectID(rawValue: 0), index: PageIndex(rawValue: index))
                switch rng.next() % 10 {
                case 0..<5:
                    let bytes = PageKind.allCases.randomElement(using: &rng)!.makePage(using: &rng)
                    if bytes.withUnsafeBytes({ z.put(k, page: $0) }) == .stored { model[index] = bytes } else { model[index] = nil }
                case 5..<9:
                    let hit = try buffer.withUnsafeMutableBytes { try z.get(k, into: $0) }
                    if hit != (model[index] != nil) || (hit && buffer != model[index]!) { failures.add(1, ordering: .relaxed) }
                default:
                    if z.flushPage(k) != (model[index] != nil) { failures.add(1, ordering: .relaxed) }
                    model[index] = nil
                }
            }
            for index in model.keys {
                z.flushPage(Key(pool: pool, object: ObjectID(rawValue: 0), index: PageIndex(rawValue: index)))
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
        let s = z.statistics
        #expect(s.storedPages == 0 && s.memUsedTotal == 0 && s.comprDataSize == 0)
    }
}
