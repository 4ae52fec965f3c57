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

/// The cleancache contract (TmemTestKit's ``CleancacheContract``) on RAM and Zcache, and what is
/// particular to this frontend: shared pools by uuid, page size, counter names.
struct CleancacheModelTests {
    static func contract(_ kind: CleancacheBackend) -> CleancacheContract {
        CleancacheContract(name: kind.rawValue) { capacity in try kind.make(capacity: capacity) }
    }

    @Test(arguments: CleancacheBackend.allCases, [false, true])
    func randomOperationsKeepTheCoherencyRules(backend kind: CleancacheBackend, exclusive: Bool) throws {
        let violations = try Self.contract(kind).checkCoherency(exclusive: exclusive)
        #expect(violations.isEmpty, "\(violations.joined(separator: "\n"))")
    }

    @Test(arguments: CleancacheBackend.allCases, [false, true])
    func noGetReturnsAPagePutBeforeAnInvalidation(backend kind: CleancacheBackend, wholeFile: Bool) throws {
        let violations = try Self.contract(kind).checkInvalidationRaces(wholeFile: wholeFile)
        #expect(violations.isEmpty, "\(violations.joined(separator: "\n"))")
    }

    @Test func sharedPoolsAreJoinedByUUIDAndNeverExclusive() throws {
        let cache = Cleancache(backend: RAMPool(capacity: 64 * pageSize))
        let uuid = PoolUUID(low: 0x5678, high: 0x1234)
        let a = try cache.initSharedFS(uuid: uuid)
        let b = try cache.initSharedFS(uuid: uuid)
        let other = try cache.initSharedFS(uuid: PoolUUID(low: 1, high: 1))
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

    /// A put under a token from before an invalidation (of the file, another page of it, or the whole
    /// FS pool) is dropped, and the key's older page goes with it (put-put-get).
    @Test func aPutUnderAStaleTokenIsDroppedWithTheOlderPage() throws {
        let cache = Cleancache(backend: RAMPool(capacity: 64 * pageSize))
        let pool = try cache.initFS()
        var out = [UInt8](repeating: 0, count: pageSize)
        for invalidation in ["page", "file", "fs"] {
            let v1 = taggedPage(file: 3, index: 0, version: 1), v2 = taggedPage(file: 3, index: 0, version: 2)
            #expect(v1.withUnsafeBytes { cache.put(pool, file: 3, index: 0, page: $0) })
            let token = cache.token(pool, file: 3)
            switch invalidation {
            case "page": cache.invalidatePage(pool, file: 3, index: 1)
            case "file": cache.invalidateFile(pool, file: 4)  // another file: its token stays good
            default: cache.invalidateFS(pool)
            }
            let cached = v2.withUnsafeBytes { cache.put(pool, file: 3, index: 0, page: $0, since: token) }
            let hit = out.withUnsafeMutableBytes { cache.get(pool, file: 3, index: 0, into: $0) }
            if invalidation == "file" {
                #expect(cached && hit && versionOf(out) == 2, "an invalidation of another file dropped the put")
            } else {
                #expect(!cached, "a put under a token from before invalidate-\(invalidation) was kept")
                #expect(!hit, "after a dropped put the older page came back (invalidate-\(invalidation))")
            }
        }
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
