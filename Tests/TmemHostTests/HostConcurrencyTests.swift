import Synchronization
import Testing
import Tmem
import TmemTestKit
@testable import TmemHost

/// Several threads at once, each its own session with a model of its pages, against one host that is
/// full enough to refuse, evict and divide shares while they run.
struct HostConcurrencyTests {
    @Test func threadsOnTheirOwnSessionsMatchTheirModels() throws {
        let seed = testSeed("HostConcurrencyTests.threadsOnTheirOwnSessionsMatchTheirModels", default: 111)
        let threads = 4
        let caps = [96 << 10, 2 << 20, 2 << 20, 2 << 20]
        let host = try makeHost(
            capacity: 2 << 20,
            clients: Dictionary(uniqueKeysWithValues: (0..<threads).map { ("t\($0)", ClientPolicy(weight: $0 + 1, cap: caps[$0])) }))
        let sessions = (0..<threads).map { host.openSession(name: "t\($0)", secretAuthenticated: false, isAdmin: false) }
        let pools = try sessions.map { s in (try host.pool(s, ephemeral: false), try host.pool(s, ephemeral: true)) }
        let peak = Mutex([Int](repeating: 0, count: threads))
        try runConcurrently(threads: threads) { t in
            var rng = SeededGenerator(seed: seed &+ UInt64(t))
            let s = sessions[t]
            let (persistent, ephemeral) = pools[t]
            var stored: [UInt32: [UInt8]] = [:]  // persistent: exactly these must read back
            var last: [UInt32: [UInt8]] = [:]  // ephemeral: a get returns this or misses
            for step in 0..<2500 {
                let index = UInt32(rng.next() % 256)
                let usePersistent = rng.next() % 2 == 0
                let pool = usePersistent ? persistent : ephemeral
                switch rng.next() % 10 {
                case 0..<5:
                    let bytes = page(rng.next() % 4 == 0 ? .zero : .textLike, tag: UInt64(t) << 32 | UInt64(step), &rng)
                    let status = host.put(s, pool, 0, index, bytes)
                    if usePersistent { stored[index] = status == .ok ? bytes : nil } else { last[index] = status == .ok ? bytes : nil }
                    if ![.ok, .refusedCap, .refusedShare, .refusedCapacity].contains(status) {
                        throw HostTestFailure("thread \(t) step \(step): put gave \(status)")
                    }
                case 5..<9:
                    let got = try host.page(s, pool, 0, index)
                    if usePersistent, got != stored[index] {
                        throw HostTestFailure("thread \(t) step \(step): persistent index \(index) read back wrong")
                    }
                    if !usePersistent, let got, got != last[index] {
                        throw HostTestFailure("thread \(t) step \(step): ephemeral index \(index) returned stale bytes")
                    }
                default:
                    _ = host.flushPage(s, pool: pool, object: 0, index: index)
                    if usePersistent { stored[index] = nil } else { last[index] = nil }
                }
                let used = host.statistics().clients.first { $0.session == s.id }?.usedBytes ?? 0
                peak.withLock { $0[t] = max($0[t], used) }
            }
            for (index, bytes) in stored where try host.page(s, persistent, 0, index) != bytes {
                throw HostTestFailure("thread \(t): persistent index \(index) lost")
            }
        }
        let peaks = peak.withLock { $0 }
        for t in 0..<threads { #expect(peaks[t] <= caps[t], "t\(t) held \(peaks[t]) bytes, cap \(caps[t])") }
        let stats = host.statistics()
        #expect(stats.usedBytes <= 2 << 20)
        #expect(stats.usedBytes == stats.clients.reduce(0) { $0 + $1.usedBytes }, "host totals are the sum of the sessions'")
        #expect(host.state.withLock { $0.reserved } == 0, "every reservation was settled")
        for s in sessions { host.closeSession(s) }
        #expect(host.statistics().pages == 0 && host.store.statistics.storedPages == 0)
    }
}
