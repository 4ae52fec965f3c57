import ArgumentParser
import BenchProcess
import Tmem
import TmemCleancache
import TmemZcache
#if canImport(Glibc)
import Glibc
#endif

/// `latency`: the cost of one cleancache get in-process, on the pages of a real database file: hits
/// (each page put once, then got in random order) and misses (keys never put), each timed on its own
/// with CLOCK_MONOTONIC, p50 and p99 printed. Over Zcache with LZ4, inclusive gets.
struct Latency: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "latency", abstract: "Time single cleancache gets (hits and misses).")

    @Argument(help: "A file whose pages to cache (a SQLite database).") var path: String
    @Option var pages: Int = 20_000
    @Option var seed: UInt64 = 2026

    func run() throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BenchError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let page = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: pageSize)
        defer { page.deallocate() }
        let cleancache = Cleancache(backend: try Zcache(configuration: .init(limit: pages * pageSize)))
        let pool = try cleancache.initFS()
        var stored = 0
        for index in 0..<pages {
            guard pread(fd, page.baseAddress, pageSize, off_t(index * pageSize)) == pageSize else { break }
            if cleancache.put(pool, file: 1, index: UInt32(index), page: UnsafeRawBufferPointer(page)) { stored += 1 }
        }
        guard stored > 1000 else { throw BenchError("only \(stored) pages of \(path) were cached") }
        var rng = SeededGenerator(seed: seed)
        var hits: [UInt64] = [], misses: [UInt64] = []
        var found = 0
        for _ in 0..<(4 * stored) {
            let index = UInt32(Int.random(in: 0..<stored, using: &rng))
            let t0 = monotonicNanoseconds()
            if cleancache.get(pool, file: 1, index: index, into: page) { found += 1 }
            let t1 = monotonicNanoseconds()
            hits.append(t1 - t0)
            let t2 = monotonicNanoseconds()
            _ = cleancache.get(pool, file: 2, index: index, into: page)
            let t3 = monotonicNanoseconds()
            misses.append(t3 - t2)
        }
        hits.sort()
        misses.sort()
        let p = { (a: [UInt64], q: Double) in Double(a[min(a.count - 1, Int(Double(a.count) * q))]) / 1000 }
        print("cleancache get over zcache (lz4), \(stored) pages of \(path): \(found) of \(hits.count) hits found")
        print("hit p50 \(p(hits, 0.5)) us, p99 \(p(hits, 0.99)) us; miss p50 \(p(misses, 0.5)) us, p99 \(p(misses, 0.99)) us")
        print("{\"hit_p50_us\": \(p(hits, 0.5)), \"hit_p99_us\": \(p(hits, 0.99)), \"miss_p50_us\": \(p(misses, 0.5)), \"miss_p99_us\": \(p(misses, 0.99))}")
    }
}
