import Testing
import Tmem
import TmemReplay
import TmemTestKit
import TmemZcache

/// The acceptance test: a random trace of 100,000 operations over 2 areas, with a capacity far
/// smaller than the data, replays with every load answering the hash of the last store to its slot
/// (never stale, never lost), and stats lines equal to what the output lines add up to.
struct ReplayRandomTraceTests {
    @Test func hundredThousandOperationsAreNeverStaleNorLost() throws {
        var rng = seededGenerator("ReplayRandomTraceTests", default: 20261122)
        let f = try ReplayFixture(pageCount: 256)
        let pagesPerArea = 512
        // 1024 slots, 64 pages of capacity: most of the data must go to disk.
        let replayer = f.replayer(capacity: 64 * pageSize)
        let trace = TraceGenerator(areas: 2, pagesPerArea: pagesPerArea, corpusPages: 256)
            .generate(operations: 100_000, using: &rng)

        var last: [Int: [Int: Int]] = [:]      // area -> offset -> corpus page a load must return
        var held: [Int: Set<Int>] = [:]        // what transcendent memory holds, from the answers
        var disabled: Set<Int> = []
        var counts = (succ: 0, failed: 0, loads: 0, invalidates: 0)
        for (i, operation) in trace.enumerated() {
            let answer = replayer.execute(operation)
            switch operation {
            case .initArea(let area, _):
                #expect(answer == "ok")
                disabled.remove(area)
            case .store(let area, let offset, let k):
                #expect(answer == "tmem" || answer == "disk", "op \(i)")
                if disabled.contains(area) { #expect(answer == "disk") }
                last[area, default: [:]][offset] = k
                if answer == "tmem" { counts.succ += 1; held[area, default: []].insert(offset) }
                else { counts.failed += 1; held[area]?.remove(offset) }
            case .load(let area, let offset):
                if let k = last[area]?[offset] {
                    let source = held[area]?.contains(offset) == true ? "tmem" : "disk"
                    #expect(answer == "\(source) \(f.hash(k))", "op \(i): \(operation)")
                    if source == "tmem" { counts.loads += 1 }
                } else {
                    #expect(answer == "none", "op \(i): \(operation)")
                }
            case .invalidate(let area, let offset):
                #expect(answer == "ok")
                last[area]?[offset] = nil
                if held[area]?.remove(offset) != nil { counts.invalidates += 1 }
            case .invalidateArea(let area):
                #expect(answer == "ok")
                for offset in held[area] ?? [] { last[area]?[offset] = nil }
                held[area] = []
                disabled.insert(area)
            case .shrink(let target):
                let n = held.values.reduce(0) { $0 + $1.count }
                let after = Int(answer.dropFirst(3)) ?? -1
                #expect(answer.hasPrefix("ok "))
                #expect(after == min(n, target), "op \(i)")
                // Which pages moved is the frontend's choice: learn it from the map.
                for area in 0..<2 {
                    held[area] = Set((held[area] ?? []).filter {
                        replayer.frontswap.isHeld(.init(area), offset: .init($0))
                    })
                }
            case .stats:
                let n = held.values.reduce(0) { $0 + $1.count }
                #expect(answer == "succ_stores=\(counts.succ) failed_stores=\(counts.failed) loads=\(counts.loads) invalidates=\(counts.invalidates) curr_pages=\(n)", "op \(i)")
            }
        }
        #expect(counts.succ > 1000 && counts.failed > 1000, "the trace must exercise both places")
    }
}

/// The same acceptance test on the compressed backend, whose writeback moves cold pages to the swap file
/// on its own: where a page is comes from the frontswap map just before each operation.
struct ReplayZcacheTraceTests {
    @Test func hundredThousandOperationsOnZcacheAreNeverStaleNorLost() throws {
        var rng = seededGenerator("ReplayZcacheTraceTests", default: 4242)
        let f = try ReplayFixture(pageCount: 256)
        let replayer = f.replayer(capacity: 192 << 10, kind: .zcache)
        let trace = TraceGenerator(areas: 2, pagesPerArea: 512, corpusPages: 256).generate(operations: 100_000, using: &rng)
        var last: [Int: [Int: Int]] = [:]
        var counts = (succ: 0, failed: 0, loads: 0, invalidates: 0)
        func held(_ area: Int, _ offset: Int) -> Bool { replayer.frontswap.isHeld(.init(area), offset: .init(offset)) }
        for (i, operation) in trace.enumerated() {
            switch operation {
            case .store(let area, let offset, let k):
                let answer = replayer.execute(operation)
                #expect(answer == "tmem" || answer == "disk", "op \(i)")
                if answer == "tmem" { counts.succ += 1 } else { counts.failed += 1 }
                last[area, default: [:]][offset] = k
            case .load(let area, let offset):
                let source = held(area, offset) ? "tmem" : "disk"
                let answer = replayer.execute(operation)
                if let k = last[area]?[offset] {
                    #expect(answer == "\(source) \(f.hash(k))", "op \(i): \(operation)")
                    if source == "tmem" { counts.loads += 1 }
                } else {
                    #expect(answer == "none", "op \(i): \(operation)")
                }
            case .invalidate(let area, let offset):
                if held(area, offset) { counts.invalidates += 1 }
                #expect(replayer.execute(operation) == "ok")
                last[area]?[offset] = nil
            case .invalidateArea(let area):
                for offset in 0..<512 where held(area, offset) { last[area]?[offset] = nil }
                #expect(replayer.execute(operation) == "ok")
            case .stats:
                let n = (0..<2).reduce(0) { sum, area in sum + (0..<512).filter { held(area, $0) }.count }
                #expect(replayer.execute(operation) == "succ_stores=\(counts.succ) failed_stores=\(counts.failed) loads=\(counts.loads) invalidates=\(counts.invalidates) curr_pages=\(n)", "op \(i)")
            case .initArea, .shrink:
                #expect(replayer.execute(operation).hasPrefix("ok"))
            }
        }
        let z = try #require(replayer.frontswap.backend as? Zcache)
        #expect(z.statistics.writtenBackPages > 0, "the pool is far smaller than the data: it must write back")
    }
}
