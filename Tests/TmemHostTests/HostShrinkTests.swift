import Testing
import Tmem
import TmemTestKit
@testable import TmemHost

/// Persistent pages are never dropped by the host: when it needs memory back it evicts ephemeral pages,
/// then sends shrink notices, and refuses persistent puts until the client complied.
struct HostShrinkTests {
    /// A client that answers shrink notices as frontswap's shrink does: it repatriates (here: flushes,
    /// keeping the page in its own model as "on disk") its oldest pages until it is at the target.
    final class Client {
        let session: Session
        let pool: UInt32
        var held: [UInt32] = []  // indexes held by the host, oldest first
        var pages: [UInt32: [UInt8]] = [:]

        init(_ host: Host, _ name: String) throws {
            session = host.openSession(name: name, secretAuthenticated: false, isAdmin: false)
            pool = try host.pool(session, ephemeral: false)
        }

        func put(_ host: Host, _ index: UInt32, _ rng: inout SeededGenerator) -> HostStatus {
            let bytes = page(.textLike, tag: UInt64(index), &rng)
            let status = host.put(session, pool, 0, index, bytes)
            if status == .ok {
                held.append(index)
                pages[index] = bytes
            }
            return status
        }

        func comply(_ host: Host, _ notice: ShrinkNotice) {
            while held.count > notice.targetPages {
                let index = held.removeFirst()
                _ = host.flushPage(session, pool: pool, object: 0, index: index)
            }
        }

        /// Every page the host still holds for the client reads back exactly.
        func verify(_ host: Host) throws {
            for index in held { #expect(try host.page(session, pool, 0, index) == pages[index], "index \(index)") }
        }
    }

    @Test func aLoweredCapacityEvictsEphemeralPagesThenAsksForPersistentOnes() throws {
        let seed = testSeed("aLoweredCapacityEvictsEphemeralPagesThenAsksForPersistentOnes", default: 91)
        var rng = SeededGenerator(seed: seed)
        let host = try makeHost(capacity: 16 << 20)
        let a = try Client(host, "a"), b = try Client(host, "b")
        let cache = host.openSession(name: "cache", secretAuthenticated: false, isAdmin: false)
        let cachePool = try host.pool(cache, ephemeral: true)
        for i in 0..<UInt32(1200) {
            #expect(a.put(host, i, &rng) == .ok)
            if i < 400 { #expect(b.put(host, i, &rng) == .ok) }
            #expect(host.put(cache, cachePool, 0, i * 64, page(.textLike, tag: UInt64(i), &rng)) == .ok)
        }
        let persistentBefore = host.persistentPagesHeld
        #expect(host.tick(nowNanoseconds: 1_000_000_000).isEmpty, "nothing to ask while the host has room")
        // Lower the capacity below what the persistent pages alone take.
        let persistentBytes = host.row("a").used + host.row("b").used
        try host.setCapacity(.bytes(persistentBytes / 2))
        var now: UInt64 = 2_000_000_000
        let notices = host.tick(nowNanoseconds: now)
        #expect(host.row("cache").pages == 0, "ephemeral pages go first")
        #expect(host.persistentPagesHeld == persistentBefore, "persistent pages are never dropped")
        try a.verify(host)
        try b.verify(host)
        // The heavy client is far above its share, the light one about at it: only the heavy one is asked.
        let forA = try #require(notices.first { $0.session === a.session })
        #expect(notices.allSatisfy { $0.deadlineMilliseconds == 2000 })
        #expect(forA.targetPages < a.held.count)
        // Until it complies, its persistent puts are refused; its pages stay.
        #expect(a.put(host, 5000, &rng) == .refusedShrinking)
        #expect(host.tick(nowNanoseconds: now + 1_000_000).allSatisfy { $0.session !== a.session }, "not repeated before the deadline")
        now += 3_000_000_000
        let repeated = host.tick(nowNanoseconds: now)
        #expect(repeated.contains { $0.session === a.session }, "repeated once the deadline passed")
        // Both comply (a target in pages may take a second notice to reach in bytes): then they are under
        // the capacity, and no notice is left.
        var pending = repeated + notices
        for _ in 0..<5 where !pending.isEmpty {
            for notice in pending {
                if notice.session === a.session { a.comply(host, notice) }
                if notice.session === b.session { b.comply(host, notice) }
            }
            now += 3_000_000_000
            pending = host.tick(nowNanoseconds: now)
        }
        #expect(pending.isEmpty)
        #expect(host.statistics().usedBytes <= host.capacityBytes)
        try a.verify(host)
        try b.verify(host)
        #expect(host.statistics().clients.allSatisfy { $0.shrinkTargetPages == nil }, "complied notices are lifted")
        let counted = host.statistics().clients.first { $0.session == a.session.id }
        #expect(counted?.refusals[.refusedShrinking] == 1 && (counted?.shrinkNotices ?? 0) >= 2)
    }

    @Test func clientsThatComplyConvergeToTheirSharesWithoutLosingAPage() throws {
        var rng = seededGenerator("clientsThatComplyConvergeToTheirSharesWithoutLosingAPage", default: 92)
        let capacity = 2 << 20
        let host = try makeHost(capacity: capacity, clients: ["heavy": ClientPolicy(weight: 3)])
        let light = try Client(host, "light"), heavy = try Client(host, "heavy")
        // The light client fills the host first; then both keep putting, answering every notice.
        var index: UInt32 = 0
        while light.put(host, index, &rng) == .ok { index += 1 }
        var now: UInt64 = 0
        for _ in 0..<60 {
            for _ in 0..<100 {
                _ = light.put(host, index, &rng)
                _ = heavy.put(host, index, &rng)
                index += 1
            }
            now += 3_000_000_000
            for notice in host.tick(nowNanoseconds: now) {
                if notice.session === light.session { light.comply(host, notice) } else { heavy.comply(host, notice) }
            }
        }
        let lightUsed = host.row("light").used, heavyUsed = host.row("heavy").used
        print("light holds \(lightUsed), heavy \(heavyUsed), weighted parts \(capacity / 4) and \(capacity / 4 * 3)")
        #expect(abs(lightUsed - capacity / 4) <= capacity / 10)
        #expect(abs(heavyUsed - capacity / 4 * 3) <= capacity / 10)
        #expect(host.statistics().usedBytes <= capacity)
        try light.verify(host)
        try heavy.verify(host)
    }

    @Test func aDrainAsksEveryoneForEverything() throws {
        var rng = seededGenerator("aDrainAsksEveryoneForEverything", default: 93)
        let host = try makeHost(capacity: 16 << 20)
        let a = try Client(host, "a"), b = try Client(host, "b")
        let idle = host.openSession(name: "idle", secretAuthenticated: false, isAdmin: false)
        let idleCache = try host.pool(idle, ephemeral: true)
        for i in 0..<UInt32(300) {
            #expect(a.put(host, i, &rng) == .ok)
            #expect(b.put(host, i, &rng) == .ok)
        }
        let notices = host.drain()
        #expect(notices.count == 2 && notices.allSatisfy { $0.targetPages == 0 })
        #expect(Set(notices.map { $0.session.id }) == [a.session.id, b.session.id], "only sessions with persistent pages")
        #expect(a.put(host, 1000, &rng) == .refusedShrinking, "no persistent puts while draining")
        #expect(host.put(idle, idleCache, 0, 0, page(.textLike, tag: 1, &rng)) == .ok, "ephemeral puts still work")
        #expect(host.persistentPagesHeld == 600)
        for notice in notices { (notice.session === a.session ? a : b).comply(host, notice) }
        #expect(host.persistentPagesHeld == 0)
        #expect(host.tick(nowNanoseconds: 5_000_000_000).isEmpty)
    }
}
