import Testing
import Tmem
import TmemTestKit
@testable import TmemHost

/// Cleancache's counters on the host's ephemeral pools (per session and host-wide), and FLUSH_POOL, by
/// which a client invalidates a whole pool (shared ones for every session).
struct HostCleancacheTests {
    @Test func ephemeralPoolsCountGetsPutsAndInvalidatesPerSessionAndHostWide() throws {
        var rng = seededGenerator("ephemeralPoolsCountGetsPutsAndInvalidatesPerSessionAndHostWide", default: 141)
        let host = try makeHost(capacity: 8 << 20)
        let alice = host.openSession(name: "alice", secretAuthenticated: true, isAdmin: false)
        let bob = host.openSession(name: "bob", secretAuthenticated: true, isAdmin: false)
        let cache = try host.pool(alice, ephemeral: true)
        let swap = try host.pool(alice, ephemeral: false)
        let shared = try host.pool(bob, ephemeral: true, shared: PoolUUID(low: 7, high: 9))
        for i in 0..<5 { #expect(host.put(alice, cache, 1, UInt32(i), page(.textLike, tag: UInt64(i), &rng)) == .ok) }
        for i in 0..<3 { #expect(host.put(alice, swap, 1, UInt32(i), page(.textLike, tag: UInt64(i), &rng)) == .ok) }
        #expect(host.put(bob, shared, 2, 0, page(.textLike, tag: 9, &rng)) == .ok)
        for i in 0..<4 { _ = try host.page(alice, cache, 1, UInt32(i)) }
        #expect(try host.page(alice, cache, 1, 77) == nil)
        _ = try host.page(alice, swap, 1, 0)
        #expect(host.flushPage(alice, pool: cache, object: 1, index: 0) == (.ok, true))
        #expect(host.flushPage(alice, pool: cache, object: 1, index: 0) == (.ok, false))
        #expect(host.flushObject(alice, pool: cache, object: 1) == (.ok, 4))
        _ = host.flushPage(alice, pool: swap, object: 1, index: 2)
        #expect(try host.page(bob, shared, 2, 0) != nil)
        #expect(try host.page(bob, shared, 2, 1) == nil)

        let stats = host.statistics()
        let a = try #require(stats.clients.first { $0.name == "alice" }).cleancache
        let b = try #require(stats.clients.first { $0.name == "bob" }).cleancache
        #expect(a.namedValues.map(\.value) == [4, 1, 5, 3, 0], "persistent pools are frontswap's: not counted")
        #expect(a.pools == 1 && b.pools == 1)
        #expect(b.namedValues.map(\.value) == [1, 1, 1, 0, 0], "a shared pool's operations are its session's")
        #expect(stats.cleancache.namedValues.map(\.value) == [5, 2, 6, 3, 0])
        #expect(stats.cleancache.pools == 2)

        host.closeSession(alice)
        #expect(host.statistics().cleancache.namedValues.map(\.value) == [5, 2, 6, 3, 0], "host-wide: since the host started")
    }

    @Test func evictionsAreCountedWhereThePagesWere() throws {
        var rng = seededGenerator("evictionsAreCountedWhereThePagesWere", default: 142)
        let host = try makeHost(capacity: 64 * pageCharge)
        let s = host.openSession(name: "alice", secretAuthenticated: false, isAdmin: false)
        let pool = try host.pool(s, ephemeral: true)
        var stored = 0
        for i in 0..<256 where host.put(s, pool, 1, UInt32(i), page(.random, tag: UInt64(i), &rng)) == .ok { stored += 1 }
        let stats = host.statistics()
        let row = try #require(stats.clients.first)
        #expect(row.cleancache.evictedPages > 0 && row.cleancache.evictedPages == row.evictedPages)
        #expect(row.cleancache.puts == stored)
        #expect(stats.cleancache.evictedPages == stats.evictedPages)
        #expect(stored - row.cleancache.evictedPages == row.storedPages, "every stored page is held or was evicted")
    }

    @Test func flushingASharedPoolEmptiesItForEverySession() throws {
        var rng = seededGenerator("flushingASharedPoolEmptiesItForEverySession", default: 143)
        let host = try makeHost(capacity: 8 << 20)
        let uuid = PoolUUID(low: 0x1234, high: 0x5678)
        let alice = host.openSession(name: "alice", secretAuthenticated: true, isAdmin: false)
        let bob = host.openSession(name: "bob", secretAuthenticated: true, isAdmin: false)
        let a = try host.pool(alice, ephemeral: true, shared: uuid)
        let b = try host.pool(bob, ephemeral: true, shared: uuid)
        let pages = (0..<8).map { page(.textLike, tag: UInt64($0), &rng) }
        for (i, bytes) in pages.enumerated() { #expect(host.put(alice, a, 3, UInt32(i), bytes) == .ok) }
        #expect(try host.page(bob, b, 3, 5) == pages[5], "one session's page is the other's")

        #expect(host.flushPool(bob, pool: b) == (.ok, 8))
        for i in 0..<8 {
            #expect(try host.page(alice, a, 3, UInt32(i)) == nil)
            #expect(try host.page(bob, b, 3, UInt32(i)) == nil)
        }
        #expect(host.statistics().shared.pages == 0 && host.statistics().shared.pools == 1)
        #expect(host.put(alice, a, 3, 0, pages[0]) == .ok, "the pool stays open")
        #expect(try host.page(bob, b, 3, 0) == pages[0])

        host.closeSession(alice)
        host.closeSession(bob)
        let after = host.statistics()
        #expect(after.pages == 0 && after.shared.pools == 0 && after.shared.pages == 0, "the fresh pool went with the last session")
    }

    @Test func flushingAPrivatePoolKeepsItsIDAndOtherPools() throws {
        var rng = seededGenerator("flushingAPrivatePoolKeepsItsIDAndOtherPools", default: 144)
        let host = try makeHost(capacity: 8 << 20)
        let s = host.openSession(name: "alice", secretAuthenticated: false, isAdmin: false)
        let flushed = try host.pool(s, ephemeral: true)
        let kept = try host.pool(s, ephemeral: true)
        let bytes = page(.textLike, tag: 1, &rng)
        #expect(host.put(s, flushed, 1, 0, bytes) == .ok && host.put(s, kept, 1, 0, bytes) == .ok)
        #expect(host.flushPool(s, pool: flushed) == (.ok, 1))
        #expect(host.flushPool(s, pool: 99) == (.noSuchPool, 0))
        #expect(try host.page(s, flushed, 1, 0) == nil)
        #expect(try host.page(s, kept, 1, 0) == bytes)
        let row = try #require(host.statistics().clients.first)
        #expect(row.pools == 2 && row.storedPages == 1 && row.cleancache.invalidates == 1)
        host.closeSession(s)
        #expect(host.statistics().pages == 0)
    }
}
