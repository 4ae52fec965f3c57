import Testing
import Tmem
import TmemCompression
import TmemTestKit
@testable import TmemZcache

/// Every stored byte is checked: damage to any byte of a stored object, compressed or kept whole (a huge
/// page), makes get throw a damaged error and count `corrupt_objects`; it is never returned as data.
struct ZcacheDamageTests {
    /// A compressible page with LZ4 (a compressed object with its checksum after it), and pages stored
    /// whole: anything with no compressor, an incompressible page with LZ4.
    static let cases: [(CompressionAlgorithm, PageKind)] = [(.lz4, .textLike), (.none, .textLike), (.lz4, .random)]

    @Test(arguments: cases)
    func damageToAnyStoredByteIsReportedNeverReturned(compressor: CompressionAlgorithm, kind: PageKind) throws {
        let z = try Zcache(configuration: .init(compressor: compressor, limit: 1 << 20))
        let pool = try z.createPool(.persistent)
        let key = Key(pool: pool, object: ObjectID(rawValue: 1), index: PageIndex(rawValue: 5))
        var rng = seededGenerator("damageToAnyStoredByteIsReportedNeverReturned", default: 31)
        let page = kind.makePage(using: &rng)
        #expect(page.withUnsafeBytes { z.put(key, page: $0) } == .stored)
        let huge = z.statistics.hugePages == 1
        #expect(huge == (compressor == .none || kind == .random), "which pages are kept whole")
        let length = try #require(z.withStoredObject(key) { $0.count })
        #expect(length == (huge ? pageSize : z.statistics.comprDataSize - 4), "the buffer covers the stored bytes")
        var out = [UInt8](repeating: 0, count: pageSize)
        var reported = 0
        for offset in 0..<length {
            // One bit, a different one each time: the smallest damage there is.
            let mask = UInt8(1) << UInt8(offset % 8)
            _ = z.withStoredObject(key) { $0[offset] ^= mask }
            do {
                let hit = try out.withUnsafeMutableBytes { try z.get(key, into: $0) }
                Issue.record("byte \(offset) of \(length) damaged: get returned \(hit ? "data" : "a miss"), not an error")
            } catch let error as TmemError {
                if error.isDamaged { reported += 1 } else { Issue.record("byte \(offset): \(error) is not a damaged error") }
            }
            _ = z.withStoredObject(key) { $0[offset] ^= mask }
        }
        #expect(reported == length)
        #expect(z.statistics.corruptObjects == length)
        #expect(z.namedStatistics.first { $0.name == "corrupt_objects" }?.value == length)
        // Repaired, the object reads back whole again: the check has no false alarms.
        #expect(try out.withUnsafeMutableBytes { try z.get(key, into: $0) })
        #expect(out == page)
    }

    @Test func damagedPageInABatchIsAFailureNotAHit() throws {
        let z = try Zcache(configuration: .init(compressor: .none, limit: 1 << 20))
        let pool = try z.createPool(.persistent)
        var rng = seededGenerator("damagedPageInABatchIsAFailureNotAHit", default: 32)
        let keys = (0..<4).map { Key(pool: pool, object: ObjectID(rawValue: 0), index: PageIndex(rawValue: UInt32($0))) }
        let pages = keys.map { _ in PageKind.numeric.makePage(using: &rng) }
        for (key, page) in zip(keys, pages) { #expect(page.withUnsafeBytes { z.put(key, page: $0) } == .stored) }
        #expect(z.withStoredObject(keys[2]) { $0[$0.count - 1] ^= 0x80 } != nil)
        var results = [GetResult](repeating: .miss, count: keys.count)
        let buffers = keys.map { _ in UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: 16) }
        defer { for b in buffers { b.deallocate() } }
        keys.withUnsafeBufferPointer { k in
            buffers.withUnsafeBufferPointer { b in results.withUnsafeMutableBufferPointer { z.getBatch(k, into: b, results: $0) } }
        }
        for i in keys.indices where i != 2 {
            #expect(results[i] == .hit)
            #expect([UInt8](UnsafeRawBufferPointer(start: buffers[i], count: pageSize)) == pages[i])
        }
        guard case .failed(let error) = results[2] else {
            Issue.record("the damaged page came back as \(results[2])")
            return
        }
        #expect(error.isDamaged)
        #expect(z.statistics.corruptObjects == 1)
        // Dropping it and storing it again heals the key.
        #expect(z.flushPage(keys[2]))
        #expect(pages[2].withUnsafeBytes { z.put(keys[2], page: $0) } == .stored)
        var out = [UInt8](repeating: 0, count: pageSize)
        #expect(try out.withUnsafeMutableBytes { try z.get(keys[2], into: $0) } && out == pages[2])
    }
}
