import Testing
import Tmem
import TmemCompression
import TmemTestKit
@testable import TmemZcache

private func key(_ pool: PoolID, _ index: Int, object: UInt64 = 0) -> Key {
    Key(pool: pool, object: ObjectID(rawValue: object), index: PageIndex(rawValue: UInt32(index)))
}

private func put(_ z: Zcache, _ k: Key, _ bytes: [UInt8]) -> PutResult {
    bytes.withUnsafeBytes { z.put(k, page: $0) }
}

/// Meters (``UsageMeter``): every change of a pool's pages reaches its own meter and the ones its creator
/// attached, also for flushes, evictions and destruction, so a meter equals the sum of its pools' usage.
struct ZcacheMeterTests {
    @Test func metersFollowEveryChangeOfTheirPools() throws {
        var rng = seededGenerator("metersFollowEveryChangeOfTheirPools", default: 41)
        let z = try Zcache(configuration: .init(limit: 64 << 20))
        let client = UsageMeter(), host = UsageMeter()
        let a = try z.createPool(.persistent, meters: [client, host])
        let b = try z.createPool(.ephemeral, meters: [client, host])
        let other = try z.createPool(.persistent, meters: [host])
        func expectConsistent(_ when: String) {
            let ua = z.usage(of: a) ?? PoolUsage(), ub = z.usage(of: b) ?? PoolUsage()
            let uo = z.usage(of: other) ?? PoolUsage()
            #expect(client.pages == ua.pages + ub.pages, "\(when)")
            #expect(client.storedBytes == ua.storedBytes + ub.storedBytes, "\(when)")
            #expect(host.pages == client.pages + uo.pages, "\(when)")
            #expect(host.storedBytes == client.storedBytes + uo.storedBytes, "\(when)")
        }
        for step in 0..<3000 {
            let pool = [a, b, other][Int(rng.next() % 3)]
            let k = key(pool, Int(rng.next() % 300), object: rng.next() % 3)
            switch rng.next() % 10 {
            case 0..<6: _ = put(z, k, PageKind.allCases.randomElement(using: &rng)!.makePage(using: &rng))
            case 6..<9: z.flushPage(k)
            default: z.flushObject(pool: pool, object: k.object)
            }
            if step % 500 == 0 { expectConsistent("step \(step)") }
        }
        expectConsistent("after the random steps")
        let bPages = z.usage(of: b)?.pages ?? 0
        let evicted = z.evictEphemeral(from: [b], chunks: 1000)
        #expect(evicted == bPages && client.evictedPages == evicted && host.evictedPages == evicted)
        expectConsistent("after eviction")
        z.destroyPool(a)
        z.destroyPool(b)
        #expect(client.pages == 0 && client.storedBytes == 0, "a destroyed pool's pages leave its meters")
        expectConsistent("after destruction")
        z.destroyPool(other)
        #expect(host.pages == 0 && host.storedBytes == 0)
        #expect(z.statistics.storedPages == 0)
    }

    @Test func metersStayExactUnderConcurrentPutsAndPoolChurn() throws {
        let seed = testSeed("metersStayExactUnderConcurrentPutsAndPoolChurn", default: 43)
        let z = try Zcache(configuration: .init(limit: 64 << 20))
        let shared = UsageMeter()
        try runConcurrently(threads: 4) { thread in
            var rng = SeededGenerator(seed: seed &+ UInt64(thread))
            for _ in 0..<20 {
                let pool = try z.createPool(thread % 2 == 0 ? .persistent : .ephemeral, meters: [shared])
                for i in 0..<100 { _ = put(z, key(pool, i), PageKind.textLike.makePage(using: &rng)) }
                for i in stride(from: 0, to: 100, by: 3) { z.flushPage(key(pool, i)) }
                if rng.next() % 2 == 0 { z.destroyPool(pool) }
            }
        }
        let s = z.statistics
        #expect(shared.pages == s.storedPages)
        #expect(shared.storedBytes == s.comprDataSize)
    }

    @Test func aDestroyedPoolsSlotComesBackWithAFreshMeter() throws {
        let z = try Zcache(configuration: .init(limit: 1 << 20))
        var ids: [PoolID] = []
        for _ in 1..<Zcache.maxPools { ids.append(try z.createPool(.persistent)) }
        var rng = seededGenerator("aDestroyedPoolsSlotComesBackWithAFreshMeter", default: 44)
        _ = put(z, key(ids[7], 0), PageKind.textLike.makePage(using: &rng))
        z.destroyPool(ids[7])
        #expect(z.usage(of: ids[7]) == nil)
        let again = try z.createPool(.persistent)
        #expect(again.rawValue & 0xFFF == ids[7].rawValue & 0xFFF)
        #expect(z.usage(of: again) == PoolUsage())
        for id in ids where id != ids[7] { z.destroyPool(id) }
        z.destroyPool(again)
    }
}

/// ``Zcache/evictEphemeral(from:chunks:)``: only the named pools lose pages, least recently used first.
struct ZcachePoolEvictionTests {
    @Test func evictsOnlyTheNamedPoolsColdestChunksFirst() throws {
        var rng = seededGenerator("evictsOnlyTheNamedPoolsColdestChunksFirst", default: 45)
        let z = try Zcache(configuration: .init(limit: 64 << 20))
        let victim = try z.createPool(.ephemeral)
        let bystander = try z.createPool(.ephemeral)
        let persistent = try z.createPool(.persistent)
        // One page per chunk (indexes 64 apart), stored in order, so chunk i is the i-th coldest.
        for i in 0..<200 {
            for pool in [victim, bystander, persistent] {
                #expect(put(z, key(pool, i * 64), PageKind.textLike.makePage(using: &rng)) == .stored)
            }
        }
        // A hit makes chunk 0 the most recently used.
        var buffer = [UInt8](repeating: 0, count: pageSize)
        #expect(try buffer.withUnsafeMutableBytes { try z.get(key(victim, 0), into: $0) })
        #expect(z.evictEphemeral(from: [victim, persistent], chunks: 50) == 50)
        func held(_ pool: PoolID, _ i: Int) throws -> Bool {
            try buffer.withUnsafeMutableBytes { try z.get(key(pool, i * 64), into: $0) }
        }
        #expect(try held(victim, 0), "the page just read is the hottest")
        for i in 1...50 { #expect(try !held(victim, i), "chunk \(i) was among the 50 coldest") }
        for i in 51..<200 { #expect(try held(victim, i), "chunk \(i) was not") }
        for i in 0..<200 {
            #expect(try held(bystander, i))
            #expect(try held(persistent, i), "persistent pages are never evicted")
        }
        #expect(z.statistics.evictedPages == 50)
        #expect(z.usage(of: victim)?.pages == 150)
    }
}

/// ``Zcache/putCompressed(_:block:)`` and ``Zcache/getCompressed(_:into:)``: a client's LZ4 block is
/// stored as it came and returned as stored; bad blocks are refused.
struct ZcacheCompressedTests {
    private func lz4(_ page: [UInt8]) throws -> [UInt8] {
        var compressor = try PageCompressor(algorithm: .lz4)
        var out = [UInt8](repeating: 0, count: CompressionAlgorithm.lz4.bound(for: pageSize))
        let n = page.withUnsafeBytes { src in out.withUnsafeMutableBytes { compressor.compress(src, into: $0) } }
        return Array(out[0..<(n ?? 0)])
    }

    private func putBlock(_ z: Zcache, _ k: Key, _ block: [UInt8]) -> (result: PutResult, storedBytesDelta: Int) {
        block.withUnsafeBytes { z.putCompressed(k, block: $0) }
    }

    private func getBlock(_ z: Zcache, _ k: Key) throws -> (CompressedGetResult, [UInt8]) {
        var out = [UInt8](repeating: 0, count: pageSize)
        let result = try out.withUnsafeMutableBytes { try z.getCompressed(k, into: $0) }
        return (result, out)
    }

    @Test(arguments: PageKind.allCases)
    func aBlockRoundTripsAsStored(kind: PageKind) throws {
        var rng = seededGenerator("aBlockRoundTripsAsStored", default: 46)
        let z = try Zcache(configuration: .init(limit: 1 << 20))
        let pool = try z.createPool(.persistent)
        let page = kind.makePage(using: &rng)
        let block = try lz4(page)
        let k = key(pool, 1)
        guard block.count <= pageSize else {
            // An incompressible page's block is longer than a page: the wire never carries one.
            #expect(kind == .random)
            return
        }
        let outcome = putBlock(z, k, block)
        #expect(outcome.result == .stored)
        #expect(outcome.storedBytesDelta == z.usage(of: pool)?.storedBytes)
        let (result, out) = try getBlock(z, k)
        switch kind {
        case .zero, .sameFilled:
            #expect(result == .page && out == page, "same-filled pages are kept as their word")
            #expect(outcome.storedBytesDelta == 0)
        default:
            #expect(result == .lz4Block(length: block.count))
            #expect(Array(out[0..<block.count]) == block, "the block comes back exactly as it came")
            #expect(outcome.storedBytesDelta == block.count + 4, "stored as Zcache stores its own LZ4 output")
        }
        var plain = [UInt8](repeating: 0, count: pageSize)
        #expect(try plain.withUnsafeMutableBytes { try z.get(k, into: $0) })
        #expect(plain == page)
    }

    @Test func aBadBlockIsRefusedAndDropsTheOldPage() throws {
        var rng = seededGenerator("aBadBlockIsRefusedAndDropsTheOldPage", default: 47)
        let z = try Zcache(configuration: .init(limit: 1 << 20))
        let pool = try z.createPool(.persistent)
        let page = PageKind.textLike.makePage(using: &rng)
        let k = key(pool, 1)
        #expect(put(z, k, page) == .stored)
        let block = try lz4(page)
        for bad in [Array(block.dropLast(5)), try lz4(Array(page[0..<2048])), [UInt8](repeating: 0xFF, count: 100)] {
            #expect(putBlock(z, k, bad).result == .refused(.compressFailed))
            #expect(try getBlock(z, k).0 == .miss, "a refused put leaves nothing under its key")
            #expect(put(z, k, page) == .stored)
        }
        #expect(z.usage(of: pool)?.pages == 1)
    }

    @Test func aLongBlockIsStoredAsZcacheWouldStoreThePage() throws {
        var rng = seededGenerator("aLongBlockIsStoredAsZcacheWouldStoreThePage", default: 48)
        // A page random in its first 3.5 KiB compresses to a block past the 3072-byte threshold.
        var page = PageKind.random.makePage(using: &rng)
        for i in 3584..<pageSize { page[i] = 0 }
        let block = try lz4(page)
        #expect(block.count > 3072 && block.count <= pageSize)
        let z = try Zcache(configuration: .init(limit: 1 << 20))
        let pool = try z.createPool(.persistent)
        #expect(putBlock(z, key(pool, 0), block).result == .stored)
        let (result, out) = try getBlock(z, key(pool, 0))
        #expect(result == .page && out == page)
        #expect(z.statistics.hugePages == 1)
        let refusing = try Zcache(configuration: .init(limit: 1 << 20, poorCompressionPolicy: .refuse))
        let p = try refusing.createPool(.persistent)
        #expect(putBlock(refusing, key(p, 0), block).result == .refused(.compressPoor))
    }

    @Test func aPoolThatDoesNotUseLZ4StoresAndReturnsPages() throws {
        var rng = seededGenerator("aPoolThatDoesNotUseLZ4StoresAndReturnsPages", default: 49)
        let z = try Zcache(configuration: .init(compressor: .zstd, limit: 1 << 20))
        let pool = try z.createPool(.persistent)
        let page = PageKind.textLike.makePage(using: &rng)
        #expect(putBlock(z, key(pool, 0), try lz4(page)).result == .stored)
        let (result, out) = try getBlock(z, key(pool, 0))
        #expect(result == .page && out == page)
    }

    @Test func aDamagedBlockIsAnErrorNeverData() throws {
        var rng = seededGenerator("aDamagedBlockIsAnErrorNeverData", default: 50)
        let z = try Zcache(configuration: .init(limit: 1 << 20))
        let pool = try z.createPool(.persistent)
        #expect(putBlock(z, key(pool, 0), try lz4(PageKind.textLike.makePage(using: &rng))).result == .stored)
        _ = z.withStoredObject(key(pool, 0)) { $0[$0.count / 2] ^= 0x10 }
        let error = #expect(throws: TmemError.self) { try getBlock(z, key(pool, 0)) }
        #expect(error?.isDamaged == true)
    }
}
