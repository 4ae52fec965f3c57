import Glibc
import Synchronization
import Testing
import Tmem
import TmemTestKit
@testable import TmemCleancache

/// Invalidation racing puts, on several threads: a writer changes "the file" (its version) and then
/// invalidates, putters cache pages they read under a token taken before reading, readers get. No get
/// may return a page older than the last invalidation that had completed before the get began.
struct CleancacheRaceTests {
    @Test(arguments: CleancacheBackend.allCases, [false, true])
    func noGetReturnsAPagePutBeforeAnInvalidation(backend kind: CleancacheBackend, wholeFile: Bool) throws {
        let seed = testSeed("cleancache race \(kind) wholeFile=\(wholeFile)", default: 0xACE)
        let cache = Cleancache(backend: try kind.make(capacity: 1024 * pageSize))
        let pool = try cache.initFS()
        let file: UInt64 = 42
        let pages: UInt32 = 8
        // The file's version, bumped by the writer before it invalidates; `completed` after.
        let version = Atomic<UInt64>(1)
        let completed = Atomic<UInt64>(0)
        let stale = Atomic<Int>(0)
        let hits = Atomic<Int>(0)
        let done = Atomic<Bool>(false)
        // Puts attempted: the writer lets a few through between invalidations, so some land and the
        // readers hit (a count to wait on, not a sleep).
        let attempts = Atomic<Int>(0)
        try runConcurrently(threads: 4) { thread in
            var rng = SeededGenerator(seed: seed &+ UInt64(thread))
            var out = [UInt8](repeating: 0, count: pageSize)
            switch thread {
            case 0:  // the writer
                for _ in 0..<400 {
                    let v = version.add(1, ordering: .sequentiallyConsistent).newValue
                    if wholeFile {
                        cache.invalidateFile(pool, file: file)
                    } else {
                        for index in 0..<pages { cache.invalidatePage(pool, file: file, index: index) }
                    }
                    completed.store(v, ordering: .sequentiallyConsistent)
                    let target = attempts.load(ordering: .relaxed) + 8
                    while attempts.load(ordering: .relaxed) < target { sched_yield() }
                }
                done.store(true, ordering: .sequentiallyConsistent)
            case 1:  // a putter: token, then "read the file", then put
                while !done.load(ordering: .relaxed) {
                    let index = UInt32.random(in: 0..<pages, using: &rng)
                    let token = cache.token(pool, file: file)
                    let v = version.load(ordering: .sequentiallyConsistent)
                    let page = taggedPage(file: file, index: index, version: v)
                    page.withUnsafeBytes { _ = cache.put(pool, file: file, index: index, page: $0, since: token) }
                    attempts.add(1, ordering: .relaxed)
                }
            default:  // readers
                while !done.load(ordering: .relaxed) {
                    let index = UInt32.random(in: 0..<pages, using: &rng)
                    let floor = completed.load(ordering: .sequentiallyConsistent)
                    guard out.withUnsafeMutableBytes({ cache.get(pool, file: file, index: index, into: $0) }) else { continue }
                    hits.add(1, ordering: .relaxed)
                    let tagFile = out.withUnsafeBytes { $0.load(as: UInt64.self) }
                    let v = versionOf(out)
                    if tagFile != file || v < floor || out != taggedPage(file: file, index: index, version: v) {
                        stale.add(1, ordering: .relaxed)
                    }
                }
            }
        }
        #expect(stale.load(ordering: .relaxed) == 0, "gets returned pages older than a completed invalidation")
        #expect(hits.load(ordering: .relaxed) > 0, "the readers never hit: the race was not exercised")
        print("cleancache race \(kind): \(hits.load(ordering: .relaxed)) hits, \(cache.statistic("invalidates")) invalidations")
    }
}
