#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
import Tmem
import TmemTestKit
@testable import TmemZcache

/// Compaction moves objects while puts, gets and flushes run: no get may see a moved object half-copied
/// or at its old place, and the accounting must come out at zero.
struct ZcacheCompactionRaceTests {
    /// Base pages of every size: compressible ones of several kinds (many size classes) and incompressible
    /// ones (huge pages).
    static func basePages(_ rng: inout SeededGenerator) -> [[UInt8]] {
        [PageKind.textLike, .numeric, .random, .textLike, .numeric, .sameFilled, .zero, .textLike].map {
            $0.makePage(using: &rng)
        }
    }

    @Test func compactionConcurrentWithPutGetFlushKeepsEveryByte() throws {
        let seed = testSeed("compactionConcurrentWithPutGetFlushKeepsEveryByte", default: 0xC0_4AC7)
        let z = try Zcache(configuration: .init(limit: 64 << 20))
        let pool = try z.createPool(.persistent)
        let workers = 3
        let failures = Mutex<[String]>([])
        let progress = Atomic<Int>(0)
        let finished = Atomic<Int>(0)
        let compactions = Atomic<Int>(0)
        let bytesReturned = Atomic<Int>(0)
        let maintenanceSteps = Atomic<Int>(0)
        try runConcurrently(threads: workers + 1) { thread in
            var rng = SeededGenerator(seed: seed &+ UInt64(thread))
            if thread == workers {
                // Maintenance: after every 100 operations of the workers, a round of performMaintenance
                // steps, and every fourth round a full compact(). Paced by the workers' progress, not by time.
                var seen = 0
                var round = 0
                while finished.load(ordering: .acquiring) < workers {
                    let now = progress.load(ordering: .relaxed)
                    guard now >= seen + 100 else {
                        sched_yield()
                        continue
                    }
                    seen = now
                    round += 1
                    while z.performMaintenance() { maintenanceSteps.add(1, ordering: .relaxed) }
                    if round % 4 == 0 {
                        let returned = z.compact()
                        compactions.add(1, ordering: .relaxed)
                        bytesReturned.add(returned, ordering: .relaxed)
                    }
                }
                return
            }
            defer { finished.add(1, ordering: .releasing) }
            let bases = Self.basePages(&rng)
            var model: [Key: [UInt8]] = [:]
            var version: UInt64 = 0
            var out = [UInt8](repeating: 0, count: pageSize)
            func fail(_ message: String) { failures.withLock { if $0.count < 20 { $0.append("worker \(thread): \(message)") } } }
            func key(_ object: Int, _ index: Int) -> Key {
                // Each worker its own objects (so its model is exact), spread over shared shards.
                Key(pool: pool, object: ObjectID(rawValue: UInt64(thread * 4 + object)), index: PageIndex(rawValue: UInt32(index)))
            }
            func put(_ k: Key) {
                version += 1
                var bytes = bases[Int(rng.next() % UInt64(bases.count))]
                if sameFilledWord(bytes.withUnsafeBytes { $0 }) == nil {
                    bytes.withUnsafeMutableBytes { $0.storeBytes(of: version << 8 | UInt64(thread), as: UInt64.self) }
                }
                let result = bytes.withUnsafeBytes { z.put(k, page: $0) }
                if result == .stored { model[k] = bytes } else { fail("a put with room to spare was \(result)") }
            }
            func check(_ k: Key) {
                do {
                    let hit = try out.withUnsafeMutableBytes { try z.get(k, into: $0) }
                    if hit != (model[k] != nil) || (hit && out != model[k]!) {
                        fail("a get of \(k) returned \(hit ? "other bytes" : "a miss"), the model holds \(model[k] == nil ? "nothing" : "a page")")
                    }
                } catch {
                    fail("a get of \(k) failed: \(error)")
                }
            }
            // Fill, then flush three pages in four: spans left sparsely used, for compaction to empty.
            for i in 0..<800 { put(key(i % 4, i)) }
            for i in 0..<800 where rng.next() % 4 != 0 {
                let k = key(i % 4, i)
                if !z.flushPage(k) { fail("flushPage of a held key \(k) said it held nothing") }
                model[k] = nil
            }
            progress.add(800, ordering: .relaxed)
            for step in 0..<6000 {
                let k = key(Int(rng.next() % 4), Int(rng.next() % 1000))
                switch rng.next() % 100 {
                case 0..<35: put(k)
                case 35..<75: check(k)
                case 75..<99:
                    if z.flushPage(k) != (model[k] != nil) { fail("flushPage of \(k) disagreed with the model") }
                    model[k] = nil
                default:
                    let dropped = z.flushObject(pool: pool, object: k.object)
                    let held = model.keys.filter { $0.object == k.object }
                    if dropped != held.count { fail("flushObject dropped \(dropped) pages, the model holds \(held.count)") }
                    for gone in held { model[gone] = nil }
                }
                if step % 10 == 9 { progress.add(10, ordering: .relaxed) }
            }
            // Everything the model holds is still there, byte for byte; then it all goes.
            for k in model.keys { check(k) }
            for object in 0..<4 { z.flushObject(pool: pool, object: ObjectID(rawValue: UInt64(thread * 4 + object))) }
        }
        let found = failures.withLock { $0 }
        #expect(found.isEmpty, "\(found.joined(separator: "\n"))")
        print("compaction race: \(compactions.load(ordering: .relaxed)) compactions returned \(bytesReturned.load(ordering: .relaxed)) bytes, \(maintenanceSteps.load(ordering: .relaxed)) maintenance steps")
        #expect(compactions.load(ordering: .relaxed) > 0, "no compaction ran while the workers did")
        #expect(bytesReturned.load(ordering: .relaxed) > 0, "compaction never moved anything: the test raced nothing")
        let s = z.statistics
        #expect(s.storedPages == 0 && s.comprDataSize == 0 && s.sameFilledPages == 0 && s.hugePages == 0, "\(s)")
        #expect(s.memUsedTotal == 0, "every span goes back to the OS")
        #expect(s.metadataBytes == z.zpool.stats.metadataBytes, "no chunk or object record is left")
        #expect(z.usage(of: pool) == PoolUsage())
    }
}
