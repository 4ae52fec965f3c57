import Dispatch
import Testing
import Tmem
import TmemTestKit
import TmemZPool

/// Several threads allocating, writing, verifying and freeing their own handles at once.
struct ZPoolConcurrencyTests {
    @Test(arguments: [2, 4])
    func threadsWorkingOnTheirOwnHandlesLeaveAccountingAtZero(threads: Int) throws {
        let seed = testSeed("threadsWorkingOnTheirOwnHandlesLeaveAccountingAtZero(\(threads))", default: 0x7A70_6F6F_6C05)
        let pool = try ZPool()
        // Narrow size ranges per thread overlap, so threads share classes and spans and contend on locks.
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            var random = SeededGenerator(seed: seed &+ UInt64(thread))
            var live: [(handle: ZPoolHandle, key: UInt64)] = []
            var nextKey = UInt64(thread) << 40
            for _ in 0..<25_000 {
                if live.isEmpty || (Bool.random(using: &random) && live.count < 2_000) {
                    let size = Int.random(in: 1_200...1_600, using: &random)
                    guard let handle = pool.allocate(size: size) else {
                        Issue.record("allocation failed on thread \(thread)")
                        return
                    }
                    nextKey += 1
                    fill(pool, handle, key: nextKey)
                    live.append((handle, nextKey))
                } else {
                    let index = Int.random(in: live.indices, using: &random)
                    live.swapAt(index, live.count - 1)
                    let (handle, key) = live.removeLast()
                    if !holds(pool, handle, key: key) { Issue.record("thread \(thread): \(handle) corrupted") }
                    pool.free(handle)
                }
            }
            for (handle, key) in live {
                if !holds(pool, handle, key: key) { Issue.record("thread \(thread): \(handle) corrupted") }
                pool.free(handle)
            }
        }
        let stats = pool.stats
        #expect(stats.allocatedObjects == 0)
        #expect(stats.allocatedBytes == 0)
        #expect(stats.spanBytes == 0)
        checkInvariantsIfCompiledIn(pool)
    }
}
