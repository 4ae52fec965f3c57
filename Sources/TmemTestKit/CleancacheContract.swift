#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization
import Tmem
import TmemCleancache

/// Cleancache's coherency rules (SEMANTICS.md, "Cleancache"), as checks run on a ``Cleancache`` over
/// each kind of backend: RAM, Zcache, the remote host. Like ``BackendContract``: each check returns the
/// violations it saw as sentences (empty: passed) and throws only when it could not run.
public struct CleancacheContract: Sendable {
    /// The backend's name in messages.
    public let name: String
    /// Makes a new, empty backend of a capacity in bytes.
    public let make: @Sendable (_ capacityBytes: Int) throws -> any Backend
    /// The seed of the randomized checks (printed; `TMEM_TEST_SEED` overrides it).
    public let seed: UInt64
    /// Whether the checks' FS pools are shared ones (``Cleancache/initSharedFS(uuid:)``, a uuid each):
    /// over a host, its shared pools. Gets from them are never exclusive, so exclusive checks are refused.
    public let shared: Bool

    /// - Parameters:
    ///   - shared: Check shared FS pools instead of private ones.
    public init(name: String, shared: Bool = false, make: @escaping @Sendable (_ capacityBytes: Int) throws -> any Backend) {
        self.name = name
        self.make = make
        self.shared = shared
        seed = testSeed("cleancache contract (\(name))", default: 0xC1EA)
    }

    /// The `n`th FS pool of a check: private, or shared under a uuid of its own.
    private func makePool(_ cache: Cleancache, _ n: UInt64, exclusive: Bool = false) throws -> FSPool {
        guard shared else { return try cache.initFS(exclusiveGets: exclusive) }
        precondition(!exclusive, "gets from a shared pool are never exclusive")
        return try cache.initSharedFS(uuid: PoolUUID(low: seed &+ n, high: 0x5348_4152_4544))
    }

    /// Random sequences of every operation against a model of what a get may return: on a hit exactly
    /// the key's last put since its last invalidation; after an invalidation, after a miss (get-get)
    /// and after an exclusive hit, nothing until a new put. The backend is small enough to drop pages.
    public func checkCoherency(steps: Int = 20_000, exclusive: Bool) throws -> [String] {
        var rng = SeededGenerator(seed: seed &+ (exclusive ? 1 : 0))
        let cache = Cleancache(backend: try make(256 * pageSize))
        let pools = [try makePool(cache, 1, exclusive: exclusive), try makePool(cache, 2, exclusive: exclusive)]
        var model: [String: UInt64] = [:]  // "pool/file/index" -> the version a hit must show
        var version: UInt64 = 0
        var out = [UInt8](repeating: 0, count: pageSize)
        var hits = 0
        var violations: [String] = []
        for step in 0..<steps where violations.count < 10 {
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
                guard out.withUnsafeMutableBytes({ cache.get(pool, file: file, index: index, into: $0) }) else {
                    model[name] = nil  // get-get: no hit until a new put
                    continue
                }
                hits += 1
                if let expected = model[name] {
                    if out != taggedPage(file: file, index: index, version: expected) {
                        violations.append("\(self.name) step \(step): \(name) returned version \(versionOf(out)), not \(expected)")
                    }
                } else {
                    violations.append("\(self.name) step \(step): \(name) hit (version \(versionOf(out))) with nothing cached")
                }
                if exclusive { model[name] = nil }
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
        if hits < steps / 20 { violations.append("\(name): only \(hits) hits in \(steps) steps: the check did not exercise hits") }
        if cache.statistic("succ_gets") != hits { violations.append("\(name): succ_gets \(cache.statistic("succ_gets")), hits \(hits)") }
        return violations
    }

    /// Invalidation racing puts on several threads: a writer changes "the file" (its version) and then
    /// invalidates (the whole file, or page by page), a putter caches pages it read under a token taken
    /// before reading, readers get. No get may return a page older than the last invalidation that had
    /// completed before the get began.
    public func checkInvalidationRaces(invalidations: Int = 400, wholeFile: Bool) throws -> [String] {
        let cache = Cleancache(backend: try make(1024 * pageSize))
        let pool = try makePool(cache, 1)
        let file: UInt64 = 42
        let pages: UInt32 = 8
        let version = Atomic<UInt64>(1)
        let completed = Atomic<UInt64>(0)
        let stale = Atomic<Int>(0)
        let hits = Atomic<Int>(0)
        let done = Atomic<Bool>(false)
        // Puts attempted: the writer lets a few through between invalidations, so that some land and
        // the readers hit (a count to wait on, not a sleep).
        let attempts = Atomic<Int>(0)
        let seed = self.seed
        try runConcurrently(threads: 4) { thread in
            var rng = SeededGenerator(seed: seed &+ UInt64(thread))
            var out = [UInt8](repeating: 0, count: pageSize)
            switch thread {
            case 0:
                defer { done.store(true, ordering: .sequentiallyConsistent) }
                for _ in 0..<invalidations {
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
            case 1:
                while !done.load(ordering: .relaxed) {
                    let index = UInt32.random(in: 0..<pages, using: &rng)
                    let token = cache.token(pool, file: file)
                    let v = version.load(ordering: .sequentiallyConsistent)
                    let page = taggedPage(file: file, index: index, version: v)
                    page.withUnsafeBytes { _ = cache.put(pool, file: file, index: index, page: $0, since: token) }
                    attempts.add(1, ordering: .relaxed)
                }
            default:
                while !done.load(ordering: .relaxed) {
                    let index = UInt32.random(in: 0..<pages, using: &rng)
                    let floor = completed.load(ordering: .sequentiallyConsistent)
                    guard out.withUnsafeMutableBytes({ cache.get(pool, file: file, index: index, into: $0) }) else { continue }
                    hits.add(1, ordering: .relaxed)
                    let v = versionOf(out)
                    if v < floor || out != taggedPage(file: file, index: index, version: v) { stale.add(1, ordering: .relaxed) }
                }
            }
        }
        var violations: [String] = []
        let (s, h) = (stale.load(ordering: .relaxed), hits.load(ordering: .relaxed))
        if s > 0 { violations.append("\(name): \(s) of \(h) hits returned a page older than a completed invalidation") }
        if h == 0 { violations.append("\(name): the readers never hit, so the race was not exercised") }
        return violations
    }
}

/// A page whose bytes say which (file, index, version) it is, so a wrong or stale page is named.
public func taggedPage(file: UInt64, index: UInt32, version: UInt64) -> [UInt8] {
    var page = [UInt8](repeating: 0, count: pageSize)
    var rng = SeededGenerator(seed: file &* 1_000_003 &+ UInt64(index) &* 7919 &+ version)
    for i in stride(from: 24, to: pageSize, by: 8) { page[i] = UInt8.random(in: 0...255, using: &rng) }
    withUnsafeBytes(of: file) { page.replaceSubrange(0..<8, with: $0) }
    withUnsafeBytes(of: UInt64(index)) { page.replaceSubrange(8..<16, with: $0) }
    withUnsafeBytes(of: version) { page.replaceSubrange(16..<24, with: $0) }
    return page
}

/// The version ``taggedPage(file:index:version:)`` wrote into `page`.
public func versionOf(_ page: [UInt8]) -> UInt64 { page.withUnsafeBytes { $0.load(fromByteOffset: 16, as: UInt64.self) } }
