import Testing
import Tmem
import TmemCompression
import TmemTestKit
@testable import TmemZcache

private let key0 = Key(pool: PoolID(rawValue: 1), object: ObjectID(rawValue: 0), index: PageIndex(rawValue: 0))

private func key(_ pool: PoolID, _ index: Int, object: UInt64 = 0) -> Key {
    Key(pool: pool, object: ObjectID(rawValue: object), index: PageIndex(rawValue: UInt32(index)))
}

private func makePage(_ kind: PageKind, _ seed: Int) -> [UInt8] {
    var rng = SeededGenerator(seed: UInt64(seed))
    return kind.makePage(using: &rng)
}

private func put(_ z: Zcache, _ k: Key, _ bytes: [UInt8]) -> PutResult {
    bytes.withUnsafeBytes { z.put(k, page: $0) }
}

private func get(_ z: Zcache, _ k: Key) throws -> [UInt8]? {
    var out = [UInt8](repeating: 0xAA, count: pageSize)
    let hit = try out.withUnsafeMutableBytes { try z.get(k, into: $0) }
    return hit ? out : nil
}

struct ZcacheRoundTripTests {
    static let cases: [(PageKind, CompressionAlgorithm)] = PageKind.allCases.flatMap { kind in
        CompressionAlgorithm.allCases.map { (kind, $0) }
    }

    @Test(arguments: cases)
    func everyPageKindRoundTrips(kind: PageKind, compressor: CompressionAlgorithm) throws {
        let z = try Zcache(configuration: .init(compressor: compressor, limit: 1 << 20))
        let pool = try z.createPool(.persistent)
        let bytes = makePage(kind, 7)
        #expect(put(z, key(pool, 3), bytes) == .stored)
        #expect(try get(z, key(pool, 3)) == bytes)
        #expect(try get(z, key(pool, 4)) == nil)
        let s = z.statistics
        #expect(s.storedPages == 1)
        #expect(s.sameFilledPages == (kind == .zero || kind == .sameFilled ? 1 : 0))
        if kind == .zero || kind == .sameFilled { #expect(s.memUsedTotal == 0, "same-filled pages cost no pool memory") }
        if kind == .random { #expect(s.hugePages == 1) }
    }

    @Test func duplicateStoreReplacesAndIsCounted() throws {
        let z = try Zcache(configuration: .init(limit: 1 << 20))
        let pool = try z.createPool(.persistent)
        #expect(put(z, key(pool, 1), makePage(.textLike, 1)) == .stored)
        #expect(put(z, key(pool, 1), makePage(.numeric, 2)) == .stored)
        #expect(put(z, key(pool, 1), makePage(.zero, 3)) == .stored)
        #expect(try get(z, key(pool, 1)) == makePage(.zero, 3))
        let s = z.statistics
        #expect(s.duplicateEntry == 2 && s.storedPages == 1 && s.memUsedTotal == 0)
    }

    @Test func poorlyCompressingPagesAreRefusedWhenSoConfigured() throws {
        let z = try Zcache(configuration: .init(limit: 1 << 20, poorCompressionPolicy: .refuse))
        let pool = try z.createPool(.persistent)
        #expect(put(z, key(pool, 1), makePage(.textLike, 1)) == .stored)
        #expect(put(z, key(pool, 1), makePage(.random, 1)) == .refused(.compressPoor))
        #expect(try get(z, key(pool, 1)) == nil, "a refused put over a key drops the old page")
        #expect(z.statistics.rejectCompressPoor == 1)
    }

    @Test func unknownPoolIsRefused() throws {
        let z = try Zcache(configuration: .init(limit: 1 << 20))
        #expect(put(z, key0, makePage(.textLike, 1)) == .refused(.noSuchPool))
        let pool = try z.createPool(.persistent)
        #expect(put(z, key(pool, 0), makePage(.textLike, 1)) == .stored)
        z.destroyPool(pool)
        #expect(put(z, key(pool, 0), makePage(.textLike, 1)) == .refused(.noSuchPool))
        #expect(z.statistics.storedPages == 0)
    }

    @Test func invalidConfigurationIsAnError() {
        #expect(throws: TmemError.self) { try Zcache(configuration: .init(compressor: .zstd, level: 99, limit: 1)) }
        #expect(throws: TmemError.self) { try Zcache(configuration: .init(limit: -1)) }
        #expect(throws: TmemError.self) { try Zcache(configuration: .init(limit: 1, acceptThresholdPercent: 0)) }
    }
}

struct ZcacheAccountingTests {
    @Test func accountingReturnsToZeroAfterFlushes() throws {
        var rng = seededGenerator("ZcacheAccountingTests", default: 77)
        let z = try Zcache(configuration: .init(limit: 64 << 20))
        let pool = try z.createPool(.persistent)
        let other = try z.createPool(.persistent)
        for i in 0..<3000 {
            let kind = PageKind.allCases.randomElement(using: &rng)!
            #expect(put(z, key(i % 2 == 0 ? pool : other, i, object: UInt64(i % 3)), kind.makePage(using: &rng)) == .stored)
        }
        let full = z.statistics
        #expect(full.storedPages == 3000)
        #expect(full.memUsedTotal > 0 && full.metadataBytes > 0)
        for i in stride(from: 0, to: 3000, by: 2) { #expect(z.flushPage(key(pool, i, object: UInt64(i % 3)))) }
        #expect(z.flushObject(pool: other, object: ObjectID(rawValue: 0)) == 500)
        z.destroyPool(other)
        let empty = z.statistics
        #expect(empty.storedPages == 0)
        #expect(empty.sameFilledPages == 0 && empty.hugePages == 0 && empty.comprDataSize == 0)
        #expect(empty.memUsedTotal == 0, "every span goes back to the OS")
        #expect(empty.metadataBytes == z.zpool.stats.metadataBytes, "no chunk is left")
    }

    @Test func metadataStaysWithinSixteenBytesPerPageForADenseArea() throws {
        let z = try Zcache(configuration: .init(limit: 256 << 20))
        let pool = try z.createPool(.persistent)
        var rng = seededGenerator("metadataStaysWithinSixteenBytesPerPage", default: 5)
        for i in 0..<16384 { _ = put(z, key(pool, i), PageKind.textLike.makePage(using: &rng)) }
        let s = z.statistics
        print("metadata per page: \(s.metadataBytesPerPage) bytes")
        #expect(s.metadataBytesPerPage <= 16)
    }

    @Test func compactionKeepsEveryByteAndReturnsMemory() throws {
        let z = try Zcache(configuration: .init(limit: 256 << 20))
        let pool = try z.createPool(.persistent)
        var rng = seededGenerator("compactionKeepsEveryByteAndReturnsMemory", default: 9)
        var pages: [Int: [UInt8]] = [:]
        for i in 0..<4000 {
            let bytes = PageKind.textLike.makePage(using: &rng)
            pages[i] = bytes
            _ = put(z, key(pool, i), bytes)
        }
        for i in 0..<4000 where rng.next() % 4 != 0 {
            z.flushPage(key(pool, i))
            pages[i] = nil
        }
        let before = z.statistics.memUsedTotal
        let freed = z.compact()
        #expect(freed > 0)
        #expect(z.statistics.memUsedTotal < before)
        for (i, bytes) in pages { #expect(try get(z, key(pool, i)) == bytes) }
    }
}

struct ZcacheCorruptionTests {
    @Test(arguments: [CompressionAlgorithm.lz4, .zstd, .none])
    func damagedObjectIsAnErrorNeverData(compressor: CompressionAlgorithm) throws {
        let z = try Zcache(configuration: .init(compressor: compressor, limit: 1 << 20))
        let pool = try z.createPool(.persistent)
        let bytes = makePage(.textLike, 1)
        _ = put(z, key(pool, 0), bytes)
        // Flip one byte in the middle of the stored object: a literal, which no decoder would notice.
        let flipped: Bool? = z.withStoredObject(key(pool, 0)) { object in
            guard object.count > 8 else { return false }
            object[object.count / 2] ^= 0x5A
            return true
        }
        // With no compressor the page is kept whole (a huge page); its checksum lives in its entry.
        #expect(z.statistics.hugePages == (compressor == .none ? 1 : 0))
        #expect(flipped == true)
        let error = #expect(throws: TmemError.self) { try get(z, key(pool, 0)) }
        #expect(error?.isDamaged == true)
        #expect(z.statistics.corruptObjects == 1)
    }

    @Test func structurallyBrokenObjectIsAnErrorWithoutChecksums() throws {
        let z = try Zcache(configuration: .init(limit: 1 << 20, checksums: false))
        let pool = try z.createPool(.persistent)
        _ = put(z, key(pool, 0), makePage(.textLike, 1))
        _ = z.withStoredObject(key(pool, 0)) { object in
            for i in 0..<object.count { object[i] = 0xFF }
        }
        #expect(throws: TmemError.self) { try get(z, key(pool, 0)) }
    }
}
