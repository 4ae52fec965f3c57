import Synchronization
import Testing
import Tmem
import TmemCompression
import TmemTestKit
@testable import TmemZcache

/// Randomized checks of deduplication against a model: pages drawn from a small palette (so most puts
/// find a twin, across keys, objects and pools), a capacity small enough that ephemeral pages are
/// evicted all the time, and every operation that drops a reference. An ephemeral get may miss; a hit
/// must return exactly the bytes of the key's latest put, and after a miss or a flush nothing until the
/// next put. A persistent page (never shared) must always come back.
struct ZcacheDeduplicationModelTests {
    /// A few distinct pages of every kind, and near twins of some (one byte apart), so that equal hashes
    /// are rare but equal-looking pages are not.
    static func palette(_ rng: inout SeededGenerator) -> [[UInt8]] {
        var pages: [[UInt8]] = []
        let kinds = [PageKind.textLike, .textLike, .textLike, .numeric, .numeric, .random, .sameFilled, .zero]
        for i in 0..<40 { pages.append(kinds[i % kinds.count].makePage(using: &rng)) }
        for i in [0, 3, 5, 8, 11, 13] {
            var twin = pages[i]
            twin[Int(rng.next() % UInt64(pageSize))] ^= 0x40
            pages.append(twin)
        }
        return pages
    }

    /// What the model knows of one Zcache: the latest bytes (palette index) of each key that may hold.
    struct Model {
        var pools: [PoolID]
        var kinds: [PoolKind]
        var pages: [Key: Int] = [:]
    }

    @Test(arguments: [CompressionAlgorithm.lz4, .none])
    func randomOperationsNeverReturnWrongBytes(compressor: CompressionAlgorithm) throws {
        var rng = seededGenerator("randomOperationsNeverReturnWrongBytes(\(compressor))", default: 0xDED0)
        let palette = Self.palette(&rng)
        var encoder = try PageCompressor(algorithm: .lz4)
        let blocks: [[UInt8]] = palette.map { page in
            var block = [UInt8](repeating: 0, count: pageSize)
            let length = page.withUnsafeBytes { p in block.withUnsafeMutableBytes { encoder.compress(p, into: $0) } }
            return Array(block[0..<(length ?? pageSize)])
        }
        // Room for a few dozen objects besides the page tables: less than the palette's distinct pages
        // take, so puts evict all the time, and the limit halves now and then.
        let limit = 384 << 10
        let z = try Zcache(configuration: .init(compressor: compressor, limit: limit, deduplicateEphemeral: true))
        let kinds: [PoolKind] = [.ephemeral, .ephemeral, .ephemeral, .persistent]
        var model = Model(pools: try kinds.map { try z.createPool($0) }, kinds: kinds)
        var violations: [String] = []
        var hits = 0
        var recent: [Key] = []
        var out = [UInt8](repeating: 0, count: pageSize)
        for step in 0..<6000 {
            let slot = Int(rng.next() % 4)
            let pool = model.pools[slot]
            let object = rng.next() % 3
            var key = Key(pool: pool, object: ObjectID(rawValue: object), index: PageIndex(rawValue: UInt32(rng.next() % 80)))
            let operation = rng.next() % 100
            // Most gets ask for a key put lately (else nearly all would miss the few pages that fit).
            if (46..<80).contains(operation), !recent.isEmpty, rng.next() % 4 != 0 {
                key = recent[Int(rng.next() % UInt64(recent.count))]
            }
            let ephemeral = model.kinds[model.pools.firstIndex(of: key.pool) ?? slot] == .ephemeral
            if operation < 46 {
                if recent.count == 32 { recent[step % 32] = key } else { recent.append(key) }
            }
            switch operation {
            case 0..<40:
                let page = Int(rng.next() % UInt64(palette.count))
                // Persistent puts are rarer, so that they do not fill the pool.
                if !ephemeral, rng.next() % 4 != 0 { continue }
                let stored = palette[page].withUnsafeBytes { z.put(key, page: $0) } == .stored
                model.pages[key] = stored ? page : nil
            case 40..<46:
                let page = Int(rng.next() % UInt64(palette.count))
                let stored = blocks[page].withUnsafeBytes { z.putCompressed(key, block: $0).result } == .stored
                model.pages[key] = stored ? page : nil
            case 46..<80:
                let hit = try out.withUnsafeMutableBytes { try z.get(key, into: $0) }
                switch (hit, model.pages[key]) {
                case (true, nil):
                    violations.append("step \(step): \(key) hit after a miss, a flush or a refusal")
                case (true, let page?):
                    hits += 1
                    if out != palette[page] { violations.append("step \(step): \(key) returned bytes other than palette[\(page)]") }
                case (false, _?) where !ephemeral:
                    violations.append("step \(step): persistent \(key) missed")
                case (false, _):
                    model.pages[key] = nil
                }
            case 80..<88:
                z.flushPage(key)
                model.pages[key] = nil
            case 88..<91:
                z.flushObject(pool: pool, object: ObjectID(rawValue: object))
                model.pages = model.pages.filter { $0.key.pool != pool || $0.key.object.rawValue != object }
            case 91..<92 where ephemeral:
                z.destroyPool(pool)
                model.pages = model.pages.filter { $0.key.pool != pool }
                model.pools[slot] = try z.createPool(.ephemeral)
            case 92..<94:
                z.evictEphemeral(from: Array(model.pools[0..<3]), chunks: 1)
            case 94..<96:
                try z.setCapacity(z.capacity == limit ? limit / 2 : limit)
            default:
                z.compact()
            }
            if step % 500 == 499 { violations += Self.accountingViolations(z, model, step) }
            if violations.count > 20 { break }
        }
        #expect(violations.isEmpty, "\(violations.prefix(20).joined(separator: "\n"))")
        #expect(hits > 400)
        #expect(z.statistics.deduplicatedPuts > 400)
        for pool in model.pools { z.destroyPool(pool) }
        let s = z.statistics
        #expect(s.storedPages == 0 && s.comprDataSize == 0 && s.deduplicatedPages == 0 && s.dedupSavedBytes == 0)
        #expect(z.zpool.stats.allocatedObjects == 0 && z.deduplication!.metadataBytes == 0)
    }

    /// The deduplication invariants, and the meters against the statistics, at a quiescent moment.
    static func accountingViolations(_ z: Zcache, _ model: Model, _ step: Int) -> [String] {
        var violations = z.deduplicationViolations().map { "step \(step): \($0)" }
        let s = z.statistics
        let meters = model.pools.compactMap { z.usage(of: $0) }
        if meters.map(\.pages).reduce(0, +) != s.storedPages || meters.map(\.storedBytes).reduce(0, +) != s.comprDataSize {
            violations.append("step \(step): the pools' meters do not add up to stored_pages and compr_data_size")
        }
        // The real memory counts each copy once.
        if z.zpool.stats.allocatedBytes != s.comprDataSize - s.dedupSavedBytes {
            violations.append(
                "step \(step): objects hold \(z.zpool.stats.allocatedBytes) bytes, "
                    + "compr_data_size − dedup_saved_bytes is \(s.comprDataSize - s.dedupSavedBytes)")
        }
        return violations
    }

    /// Threads putting the same few pages into shared pools, each checking its own keys, while one of
    /// them evicts and compacts: no hit ever returns bytes other than its key's latest put, and the
    /// references add up once the threads are done.
    @Test func concurrentPutsOfTheSamePagesStayCorrect() throws {
        let seed = testSeed("concurrentPutsOfTheSamePagesStayCorrect", default: 0xC0DE_D0D0)
        var rng = SeededGenerator(seed: seed)
        let palette = Self.palette(&rng)
        let z = try Zcache(configuration: .init(limit: 1 << 20, deduplicateEphemeral: true))
        let pools = try (0..<3).map { _ in try z.createPool(.ephemeral) }
        let failures = Atomic<Int>(0)
        let threads = 4
        try runConcurrently(threads: threads) { worker in
            var rng = SeededGenerator(seed: seed &+ UInt64(worker) &+ 1)
            var model: [Key: Int] = [:]
            var out = [UInt8](repeating: 0, count: pageSize)
            for step in 0..<2500 {
                // Each thread owns the indexes congruent to its number in objects 0 and 1 (chunks shared
                // with the others), and the whole of object 10 + its number (which it flushes).
                let pool = pools[Int(rng.next() % 3)]
                let own = rng.next() % 4 == 0
                let object = own ? 10 + UInt64(worker) : rng.next() % 2
                let index = own ? UInt32(rng.next() % 128) : UInt32(Int(rng.next() % 64) * threads + worker)
                let key = Key(pool: pool, object: ObjectID(rawValue: object), index: PageIndex(rawValue: index))
                switch rng.next() % 20 {
                case 0..<9:
                    let page = Int(rng.next() % UInt64(palette.count))
                    model[key] = palette[page].withUnsafeBytes { z.put(key, page: $0) } == .stored ? page : nil
                case 9..<17:
                    let hit = try out.withUnsafeMutableBytes { try z.get(key, into: $0) }
                    if hit, model[key].map({ palette[$0] != out }) ?? true { failures.add(1, ordering: .relaxed) }
                    if !hit { model[key] = nil }
                case 17:
                    z.flushPage(key)
                    model[key] = nil
                case 18 where own:
                    z.flushObject(pool: pool, object: ObjectID(rawValue: object))
                    model = model.filter { $0.key.pool != pool || $0.key.object.rawValue != object }
                default:
                    if worker == 0 {
                        z.evictEphemeral(from: pools, chunks: 2)
                        if step % 10 == 0 { _ = z.performMaintenance() }
                        if step % 500 == 0 { z.compact() }
                    }
                }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
        #expect(z.deduplicationViolations().isEmpty)
        #expect(z.statistics.deduplicatedPuts > 1000)
        for pool in pools { z.destroyPool(pool) }
        let s = z.statistics
        #expect(s.storedPages == 0 && s.deduplicatedPages == 0 && z.zpool.stats.allocatedObjects == 0)
        #expect(z.deduplication!.metadataBytes == 0)
    }
}
