import Testing
import Tmem
import TmemTestKit
import TmemZcache
@testable import TmemCleancache

/// The backends cleancache is tested on: RAM, and Zcache (compressed, with its own ephemeral eviction).
enum CleancacheBackend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case ram, zcache

    var testDescription: String { rawValue }

    func make(capacity: Int) throws -> any Backend {
        switch self {
        case .ram: RAMPool(capacity: capacity)
        case .zcache: try Zcache(configuration: .init(limit: capacity))
        }
    }
}

/// A page whose bytes say which (file, index, version) it is, so a wrong or stale page is named.
func taggedPage(file: UInt64, index: UInt32, version: UInt64) -> [UInt8] {
    var page = [UInt8](repeating: 0, count: pageSize)
    var rng = SeededGenerator(seed: file &* 1_000_003 &+ UInt64(index) &* 7919 &+ version)
    for i in stride(from: 24, to: pageSize, by: 8) { page[i] = UInt8.random(in: 0...255, using: &rng) }
    withUnsafeBytes(of: file) { page.replaceSubrange(0..<8, with: $0) }
    withUnsafeBytes(of: UInt64(index)) { page.replaceSubrange(8..<16, with: $0) }
    withUnsafeBytes(of: version) { page.replaceSubrange(16..<24, with: $0) }
    return page
}

func versionOf(_ page: [UInt8]) -> UInt64 { page.withUnsafeBytes { $0.load(fromByteOffset: 16, as: UInt64.self) } }

/// Random sequences of every operation against a model of what a get may return: on a hit exactly the
/// key's last put since its last invalidation; never a page after an invalidation, a miss (get-get), or
/// an exclusive hit until a new put.
struct CleancacheModelTests {
    @Test(arguments: CleancacheBackend.allCases, [false, true])
    func randomOperationsKeepTheCoherencyRules(backend kind: CleancacheBackend, exclusive: Bool) throws {
        var rng = seededGenerator("cleancache model \(kind) exclusive=\(exclusive)", default: 0xC1EA)
        // Small enough that the backend drops pages now and then: misses must be allowed, never lies.
        let cache = Cleancache(backend: try kind.make(capacity: 256 * pageSize))
        let pools = [try cache.initFS(exclusiveGets: exclusive), try cache.initFS(exclusiveGets: exclusive)]
        var model: [String: UInt64] = [:]  // "pool/file/index" -> version that a hit must show
        var version: UInt64 = 0
        var out = [UInt8](repeating: 0, count: pageSize)
        var hits = 0
        for step in 0..<20_000 {
            let pool = pools.randomElement(using: &rng)!
            let file = UInt64.random(in: 1...6, using: &rng)
            let index = UInt32.random(in: 0..<24, using: &rng)
            let name = "\(pool.rawValue)/\(file)/\(index)"
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<45:
                version += 1
                let page = taggedPage(file: file, index: index, version: version)
                let cached = page.withUnsafeBytes { cache.put(pool, file: file, index: index, page: $0) }
                model[name] = cached ? version : nil
            case 45..<90:
                let hit = out.withUnsafeMutableBytes { cache.get(pool, file: file, index: index, into: $0) }
                if hit {
                    hits += 1
                    let expected = try #require(model[name], "step \(step): \(name) hit with nothing cached (version \(versionOf(out)))")
                    #expect(out == taggedPage(file: file, index: index, version: expected), "step \(step): \(name) returned version \(versionOf(out)), not \(expected)")
                    if exclusive { model[name] = nil }
                } else {
                    model[name] = nil  // get-get: no hit until a new put
                }
            case 90..<96:
                cache.invalidatePage(pool, file: file, index: index)
                model[name] = nil
            case 96..<99:
                cache.invalidateFile(pool, file: file)
                model = model.filter { !$0.key.hasPrefix("\(pool.rawValue)/\(file)/") }
            default:
                cache.invalidateFS(pool)
                model = model.filter { !$0.key.hasPrefix("\(pool.rawValue)/") }
            }
        }
        #expect(hits > 1000, "the test should exercise hits: \(hits)")
        #expect(cache.statistic("succ_gets") == hits)
        #expect(cache.statistic("succ_gets") + cache.statistic("failed_gets") > 0)
    }

    @Test func sharedPoolsAreJoinedByUUIDAndNeverExclusive() throws {
        let cache = Cleancache(backend: RAMPool(capacity: 64 * pageSize))
        let uuid = UUID128(high: 0x1234, low: 0x5678)
        let a = try cache.initSharedFS(uuid: uuid)
        let b = try cache.initSharedFS(uuid: uuid)
        let other = try cache.initSharedFS(uuid: UUID128(high: 1, low: 1))
        #expect(a == b && a != other)
        let page = taggedPage(file: 9, index: 1, version: 1)
        #expect(page.withUnsafeBytes { cache.put(a, file: 9, index: 1, page: $0) })
        var out = [UInt8](repeating: 0, count: pageSize)
        for _ in 0..<2 { #expect(out.withUnsafeMutableBytes { cache.get(b, file: 9, index: 1, into: $0) } && out == page) }
        #expect(!out.withUnsafeMutableBytes { cache.get(other, file: 9, index: 1, into: $0) })
        cache.closeFS(a)
        #expect(out.withUnsafeMutableBytes { cache.get(b, file: 9, index: 1, into: $0) }, "b still holds a reference")
        cache.closeFS(b)
        #expect(!out.withUnsafeMutableBytes { cache.get(b, file: 9, index: 1, into: $0) }, "a closed pool names nothing")
        let again = try cache.initSharedFS(uuid: uuid)
        #expect(again != a, "handles are never reused")
        #expect(!out.withUnsafeMutableBytes { cache.get(again, file: 9, index: 1, into: $0) }, "the last close dropped the pages")
    }

    @Test func anotherPageSizeIsRefusedAndCountersUseTheKernelsNames() throws {
        let cache = Cleancache(backend: RAMPool(capacity: 16 * pageSize))
        #expect(throws: TmemError.self) { try cache.initFS(pageSize: 8192) }
        let pool = try cache.initFS()
        let page = taggedPage(file: 1, index: 0, version: 1)
        page.withUnsafeBytes { _ = cache.put(pool, file: 1, index: 0, page: $0) }
        var out = [UInt8](repeating: 0, count: pageSize)
        _ = out.withUnsafeMutableBytes { cache.get(pool, file: 1, index: 0, into: $0) }
        _ = out.withUnsafeMutableBytes { cache.get(pool, file: 1, index: 1, into: $0) }
        cache.invalidateFile(pool, file: 1)
        #expect(cache.namedStatistics.map(\.name) == ["succ_gets", "failed_gets", "puts", "invalidates", "evicted_pages"])
        #expect([cache.statistic("succ_gets"), cache.statistic("failed_gets"), cache.statistic("puts"), cache.statistic("invalidates")] == [1, 1, 1, 1])
    }
}
