import Testing
import Tmem
import TmemCompression
import TmemTestKit
@testable import TmemZcache

/// Deduplication of ephemeral pages (``ZcacheConfiguration/deduplicateEphemeral``): identical pages
/// under different keys are stored once, counted as the statistics say, charged to every key in full,
/// and never shared with persistent pools.
struct ZcacheDeduplicationTests {
    static func zcache(_ compressor: CompressionAlgorithm = .lz4, deduplicate: Bool = true, limit: Int = 64 << 20) throws
        -> Zcache
    {
        try Zcache(configuration: .init(compressor: compressor, limit: limit, deduplicateEphemeral: deduplicate))
    }

    static func key(_ pool: PoolID, _ object: UInt64, _ index: UInt32) -> Key {
        Key(pool: pool, object: ObjectID(rawValue: object), index: PageIndex(rawValue: index))
    }

    /// N identical pages in four pools take one page's memory; without deduplication, N pages'.
    @Test(arguments: [PageKind.textLike, .random])
    func identicalPagesTakeOnePagesMemory(kind: PageKind) throws {
        var rng = seededGenerator("identicalPagesTakeOnePagesMemory(\(kind))", default: 0xD0D0)
        let page = kind.makePage(using: &rng)
        let n = 256
        var used: [Bool: (ZcacheStatistics, objects: Int)] = [:]
        for deduplicate in [false, true] {
            let z = try Self.zcache(deduplicate: deduplicate)
            let pools = try (0..<4).map { _ in try z.createPool(.ephemeral) }
            for i in 0..<n {
                let k = Self.key(pools[i % 4], UInt64(i % 7), UInt32(i))
                #expect(page.withUnsafeBytes { z.put(k, page: $0) } == .stored)
            }
            used[deduplicate] = (z.statistics, z.zpool.stats.allocatedObjects)
            #expect(z.deduplicationViolations().isEmpty)
        }
        let one = try Self.zcache()
        let pool = try one.createPool(.ephemeral)
        #expect(page.withUnsafeBytes { one.put(Self.key(pool, 0, 0), page: $0) } == .stored)
        let single = one.statistics

        let (shared, sharedObjects) = used[true]!
        let (plain, plainObjects) = used[false]!
        #expect(sharedObjects == 1 && plainObjects == n)
        #expect(shared.memUsedTotal == single.memUsedTotal)
        #expect(plain.memUsedTotal >= n / 2 * single.comprDataSize)
        #expect(shared.deduplicatedPages == n - 1 && shared.deduplicatedPuts == n - 1)
        #expect(shared.dedupSavedBytes == (n - 1) * single.comprDataSize)
        // Every key is charged in full, with or without sharing.
        #expect(shared.comprDataSize == plain.comprDataSize && shared.storedPages == n)
        #expect(plain.deduplicatedPages == 0 && plain.dedupSavedBytes == 0)
    }

    /// The counters follow each reference: puts, flushes, overwrites, evictions, destroyed pools.
    @Test func countersFollowEveryReference() throws {
        var rng = seededGenerator("countersFollowEveryReference", default: 0xC0C0)
        let x = PageKind.textLike.makePage(using: &rng)
        let y = PageKind.numeric.makePage(using: &rng)
        let z = try Self.zcache()
        let a = try z.createPool(.ephemeral)
        let b = try z.createPool(.ephemeral)
        let p = try z.createPool(.persistent)
        func put(_ k: Key, _ bytes: [UInt8]) { #expect(bytes.withUnsafeBytes { z.put(k, page: $0) } == .stored) }
        func expect(shared: Int, puts: Int, objects: Int, sourceLocation: SourceLocation = #_sourceLocation) {
            let s = z.statistics
            #expect(s.deduplicatedPages == shared, sourceLocation: sourceLocation)
            #expect(s.deduplicatedPuts == puts, sourceLocation: sourceLocation)
            #expect(z.zpool.stats.allocatedObjects == objects, sourceLocation: sourceLocation)
            #expect(z.zpool.stats.allocatedBytes == s.comprDataSize - s.dedupSavedBytes, sourceLocation: sourceLocation)
            #expect(z.deduplicationViolations().isEmpty, sourceLocation: sourceLocation)
        }
        put(Self.key(a, 1, 0), x)
        let bytes = z.statistics.comprDataSize
        put(Self.key(a, 1, 1), x)
        put(Self.key(b, 9, 500), x)
        expect(shared: 2, puts: 2, objects: 1)
        #expect(z.statistics.dedupSavedBytes == 2 * bytes)
        #expect(z.usage(of: a)?.storedBytes == 2 * bytes && z.usage(of: b)?.storedBytes == bytes)

        // A persistent page is never shared, nor shares.
        put(Self.key(p, 1, 0), x)
        expect(shared: 2, puts: 2, objects: 2)
        // Putting the same bytes again under a key that holds them takes and drops a reference.
        put(Self.key(a, 1, 1), x)
        expect(shared: 2, puts: 3, objects: 2)
        #expect(z.statistics.duplicateEntry == 1)

        #expect(z.flushPage(Self.key(a, 1, 0)))
        expect(shared: 1, puts: 3, objects: 2)
        put(Self.key(a, 1, 1), y)
        expect(shared: 0, puts: 3, objects: 3)
        #expect(z.statistics.dedupSavedBytes == 0)

        put(Self.key(a, 2, 0), x)
        put(Self.key(a, 2, 64), x)
        expect(shared: 2, puts: 5, objects: 3)
        // Evicting the pool's coldest chunk (object 1's, holding y) leaves the copies; then object 2's first.
        #expect(z.evictEphemeral(from: [a], chunks: 1) == 1)
        expect(shared: 2, puts: 5, objects: 2)
        #expect(z.evictEphemeral(from: [a], chunks: 1) == 1)
        expect(shared: 1, puts: 5, objects: 2)
        #expect(z.flushObject(pool: a, object: ObjectID(rawValue: 2)) == 1)
        expect(shared: 0, puts: 5, objects: 2)
        z.destroyPool(b)
        expect(shared: 0, puts: 5, objects: 1)
        z.destroyPool(a)
        z.destroyPool(p)
        expect(shared: 0, puts: 5, objects: 0)
        let s = z.statistics
        #expect(s.storedPages == 0 && s.comprDataSize == 0 && s.memUsedTotal == 0)
        #expect(z.deduplication!.metadataBytes == 0)
        #expect(z.namedStatistics.suffix(3).map(\.name) == ["deduplicated_pages", "deduplicated_puts", "dedup_saved_bytes"])
    }

    /// A hash that names another page's copy never shares it: the full compare decides.
    @Test(arguments: [PageKind.textLike, .random])
    func aCopyWithOtherBytesIsNotShared(kind: PageKind) throws {
        var rng = seededGenerator("aCopyWithOtherBytesIsNotShared(\(kind))", default: 0xC011)
        let x = kind.makePage(using: &rng)
        var nearlyX = x
        nearlyX[4095] ^= 1
        let z = try Self.zcache()
        let pool = try z.createPool(.ephemeral)
        #expect(x.withUnsafeBytes { z.put(Self.key(pool, 0, 0), page: $0) } == .stored)
        let hashOfX = x.withUnsafeBytes { Zcache.pageHash($0) }
        #expect(nearlyX.withUnsafeBytes { Zcache.pageHash($0) } != hashOfX)
        let found = nearlyX.withUnsafeBytes { page in
            z.compressors.with { slot in z.sharedCopy(of: page, hash: hashOfX, &slot) != nil }
        }
        #expect(!found)
        let same = x.withUnsafeBytes { page in
            z.compressors.with { slot in z.sharedCopy(of: page, hash: hashOfX, &slot) }
        }
        // The reference it took is given back, as a refused put would.
        if let same { z.discard(same) }
        #expect(same != nil)
        #expect(z.deduplicationViolations().isEmpty)
    }

    /// A page that arrives as an LZ4 block shares the copy of an equal page put whole, and back.
    @Test func compressedPutsShareWithWholePuts() throws {
        var rng = seededGenerator("compressedPutsShareWithWholePuts", default: 0xB10C)
        let x = PageKind.textLike.makePage(using: &rng)
        var compressor = try PageCompressor(algorithm: .lz4, level: 4)
        var block = [UInt8](repeating: 0, count: pageSize)
        let length = x.withUnsafeBytes { page in block.withUnsafeMutableBytes { compressor.compress(page, into: $0) } }!
        let z = try Self.zcache()
        let a = try z.createPool(.ephemeral)
        let b = try z.createPool(.ephemeral)
        #expect(block[0..<length].withUnsafeBytes { z.putCompressed(Self.key(a, 0, 0), block: $0).result } == .stored)
        #expect(x.withUnsafeBytes { z.put(Self.key(b, 0, 0), page: $0) } == .stored)
        #expect(block[0..<length].withUnsafeBytes { z.putCompressed(Self.key(b, 0, 1), block: $0).result } == .stored)
        #expect(z.statistics.deduplicatedPages == 2 && z.zpool.stats.allocatedObjects == 1)
        var out = [UInt8](repeating: 0, count: pageSize)
        for k in [Self.key(a, 0, 0), Self.key(b, 0, 0), Self.key(b, 0, 1)] {
            #expect(try out.withUnsafeMutableBytes { try z.get(k, into: $0) })
            #expect(out == x)
        }
        #expect(z.deduplicationViolations().isEmpty)
    }

    /// Compaction moves a shared copy with every entry that names it, and its index record.
    @Test func compactionMovesSharedCopiesWithAllTheirKeys() throws {
        var rng = seededGenerator("compactionMovesSharedCopiesWithAllTheirKeys", default: 0xC0FA)
        let pages = (0..<512).map { _ in PageKind.textLike.makePage(using: &rng) }
        let z = try Self.zcache()
        let pools = try (0..<3).map { _ in try z.createPool(.ephemeral) }
        // Each page under three keys (one per pool); then most pages go, leaving sparse spans.
        for (i, page) in pages.enumerated() {
            for pool in pools { #expect(page.withUnsafeBytes { z.put(Self.key(pool, 0, UInt32(i)), page: $0) } == .stored) }
        }
        for i in pages.indices where i % 8 != 0 {
            for pool in pools { z.flushPage(Self.key(pool, 0, UInt32(i))) }
        }
        let moved = z.zpool.stats.compactedObjects
        z.compact()
        #expect(z.zpool.stats.compactedObjects > moved)
        #expect(z.deduplicationViolations().isEmpty)
        var out = [UInt8](repeating: 0, count: pageSize)
        for i in pages.indices where i % 8 == 0 {
            for pool in pools {
                #expect(try out.withUnsafeMutableBytes { try z.get(Self.key(pool, 0, UInt32(i)), into: $0) })
                #expect(out == pages[i])
            }
        }
        // A put after the move still finds the moved copy.
        #expect(pages[8].withUnsafeBytes { z.put(Self.key(pools[0], 5, 0), page: $0) } == .stored)
        #expect(z.statistics.deduplicatedPages == pages.count / 8 * 2 + 1)
        for pool in pools { z.destroyPool(pool) }
        #expect(z.zpool.stats.allocatedObjects == 0 && z.deduplication!.metadataBytes == 0)
    }

    /// The hash spreads pages over every partition and tells near-identical pages apart.
    @Test func theHashSpreadsOverThePartitions() {
        var rng = seededGenerator("theHashSpreadsOverThePartitions", default: 0x4A5)
        var page = PageKind.numeric.makePage(using: &rng)
        var partitions = Set<Int>()
        var hashes = Set<UInt64>()
        for i in 0..<pageSize {
            page[i] &+= 1
            let hash = page.withUnsafeBytes { Zcache.pageHash($0) }
            hashes.insert(hash)
            partitions.insert(DeduplicationIndex.partition(of: hash))
        }
        #expect(hashes.count == pageSize && partitions.count == DeduplicationIndex.partitionCount)
    }
}
