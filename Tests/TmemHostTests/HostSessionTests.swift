import Testing
import Tmem
import TmemTestKit
@testable import TmemHost

/// Sessions and their pools: tokens, per-session pool ids, shared pools, and what closing frees.
struct HostSessionTests {
    @Test func aJoinNeedsTheSessionsToken() throws {
        let host = try makeHost(capacity: 1 << 20)
        let s = host.openSession(name: "alice", secretAuthenticated: true, isAdmin: false)
        let t = host.openSession(name: "alice", secretAuthenticated: true, isAdmin: false)
        #expect(s.id != t.id && s.token != t.token)
        #expect(host.session(id: s.id, token: s.token) === s)
        #expect(host.session(id: s.id, token: t.token) == nil)
        #expect(host.session(id: s.id, token: SessionToken(low: s.token.low, high: s.token.high ^ 1)) == nil)
        host.closeSession(s)
        #expect(host.session(id: s.id, token: s.token) == nil, "a closed session cannot be joined")
    }

    @Test func poolIDsAreTheSessionsOwnFromOne() throws {
        let host = try makeHost(capacity: 1 << 20, maxPoolsPerSession: 3)
        let s = host.openSession(name: "alice", secretAuthenticated: false, isAdmin: false)
        let t = host.openSession(name: "bob", secretAuthenticated: false, isAdmin: false)
        #expect(try host.pool(s, ephemeral: false) == 1)
        #expect(try host.pool(s, ephemeral: true) == 2)
        #expect(try host.pool(t, ephemeral: false) == 1, "another session's ids start at 1 too")
        #expect(host.destroyPool(s, pool: 1) == .ok)
        #expect(try host.pool(s, ephemeral: false) == 3, "ids are not reused within a session")
        #expect(try host.pool(s, ephemeral: false) == 4)
        #expect(host.createPool(s, ephemeral: false, sharedUUID: nil).status == .tooManyPools)
        #expect(host.destroyPool(s, pool: 1) == .noSuchPool)
    }

    @Test func closingASessionFreesItsPools() throws {
        var rng = seededGenerator("closingASessionFreesItsPools", default: 61)
        let host = try makeHost(capacity: 64 << 20)
        let s = host.openSession(name: "alice", secretAuthenticated: false, isAdmin: false)
        let t = host.openSession(name: "alice", secretAuthenticated: false, isAdmin: false)
        let persistent = try host.pool(s, ephemeral: false), ephemeral = try host.pool(s, ephemeral: true)
        let kept = try host.pool(t, ephemeral: false)
        for i in 0..<500 {
            #expect(host.put(s, persistent, 1, UInt32(i), page(.textLike, tag: UInt64(i), &rng)) == .ok)
            #expect(host.put(s, ephemeral, 2, UInt32(i), page(.numeric, tag: UInt64(i), &rng)) == .ok)
        }
        let keptPage = page(.textLike, tag: 99, &rng)
        #expect(host.put(t, kept, 1, 0, keptPage) == .ok)
        let before = host.statistics()
        #expect(before.pages == 1001 && before.persistentPages == 501)
        host.closeSession(s)
        host.closeSession(s)
        let after = host.statistics()
        #expect(after.pages == 1 && after.clients.count == 1)
        #expect(after.usedBytes == after.clients[0].usedBytes, "the account's usage dropped by the closed session's")
        #expect(host.store.statistics.storedPages == 1, "the store freed every page of the closed session")
        #expect(host.put(s, persistent, 1, 0, keptPage) == .noSuchPool)
        #expect(try host.page(t, kept, 1, 0) == keptPage)
        host.closeSession(t)
        let empty = host.statistics()
        #expect(empty.pages == 0 && empty.usedBytes == 0 && host.store.statistics.storedPages == 0)
        #expect(host.state.withLock { $0.accounts.isEmpty && $0.reserved == 0 }, "no account outlives its sessions")
    }

    @Test func sharedPoolsNeedTheSecretAndAreSharedByUUID() throws {
        var rng = seededGenerator("sharedPoolsNeedTheSecretAndAreSharedByUUID", default: 62)
        let host = try makeHost(capacity: 8 << 20)
        let uuid = PoolUUID(low: 1, high: 2)
        let outsider = host.openSession(name: "mallory", secretAuthenticated: false, isAdmin: false)
        #expect(host.createPool(outsider, ephemeral: true, sharedUUID: uuid).status == .notAllowed)
        let a = host.openSession(name: "alice", secretAuthenticated: true, isAdmin: false)
        let b = host.openSession(name: "bob", secretAuthenticated: true, isAdmin: false)
        let pa = try host.pool(a, ephemeral: false, shared: uuid)
        #expect(try host.pool(a, ephemeral: true, shared: uuid) == pa, "opening it again gives the same id")
        _ = try host.pool(b, ephemeral: true)
        let pb = try host.pool(b, ephemeral: true, shared: uuid)
        #expect(pb == 2)
        let bytes = page(.textLike, tag: 7, &rng)
        #expect(host.put(a, pa, 5, 9, bytes) == .ok)
        #expect(try host.page(b, pb, 5, 9) == bytes, "the same uuid reaches the same pool")
        let stats = host.statistics()
        #expect(stats.shared.pages == 1 && stats.shared.pools == 1)
        #expect(stats.clients.allSatisfy { $0.storedPages == 0 }, "shared pages are charged to no client")
        #expect(host.state.withLock { $0.sharedPools[uuid].map { host.store.usage(of: $0.id) != nil } } == true)
        host.closeSession(a)
        #expect(try host.page(b, pb, 5, 9) == bytes, "it lives while any session has it open")
        #expect(host.destroyPool(b, pool: pb) == .ok)
        #expect(host.statistics().shared.pages == 0 && host.statistics().shared.pools == 0)
        let again = host.openSession(name: "carol", secretAuthenticated: true, isAdmin: false)
        let pc = try host.pool(again, ephemeral: true, shared: uuid)
        #expect(try host.page(again, pc, 5, 9) == nil, "a shared pool no session holds is gone")
    }

    @Test func aSharedPoolIsEphemeralWhateverTheRequestSays() throws {
        let host = try makeHost(capacity: 1 << 20)
        let a = host.openSession(name: "alice", secretAuthenticated: true, isAdmin: false)
        let p = try host.pool(a, ephemeral: false, shared: PoolUUID(low: 9, high: 9))
        #expect(host.state.withLock { $0.sessions[a.id]?.pools[p]?.kind } == .ephemeral)
    }
}

/// Isolation (Xen XSA-15): a session can name only its own pools.
struct HostIsolationTests {
    @Test func noSessionReachesAnothersPools() throws {
        var rng = seededGenerator("HostIsolationTests.noSessionReachesAnothersPools", default: 63)
        let host = try makeHost(capacity: 64 << 20)
        let victim = host.openSession(name: "alice", secretAuthenticated: true, isAdmin: false)
        let attacker = host.openSession(name: "mallory", secretAuthenticated: true, isAdmin: false)
        var model: [UInt32: [UInt32: [UInt8]]] = [:]
        for _ in 0..<6 {
            let pool = try host.pool(victim, ephemeral: false)
            for i in 0..<20 {
                let bytes = page(.textLike, tag: UInt64(pool) << 32 | UInt64(i), &rng)
                #expect(host.put(victim, pool, 1, UInt32(i), bytes) == .ok)
                model[pool, default: [:]][UInt32(i)] = bytes
            }
        }
        let own = try host.pool(attacker, ephemeral: false)  // the attacker's pool 1: its own, empty
        var successes = 0
        var buffer = [UInt8](repeating: 0, count: pageSize)
        let junk = [UInt8](repeating: 0x41, count: pageSize)
        for attempt in 0..<100_000 {
            // Any id: the victim's (1...6), the attacker's own (1), zero, large, random.
            let pool: UInt32 = switch attempt % 4 {
            case 0: UInt32(rng.next() % 8)
            case 1: UInt32(truncatingIfNeeded: rng.next())
            case 2: UInt32.max - UInt32(rng.next() % 4)
            default: UInt32(rng.next() % 4096)
            }
            let index = UInt32(rng.next() % 20)
            let ownPool = pool == own
            switch rng.next() % 5 {
            case 0:
                let result = buffer.withUnsafeMutableBytes {
                    host.get(attacker, pool: pool, object: 1, index: index, into: $0, acceptCompressed: rng.next() % 2 == 0)
                }
                if ownPool { if result != .miss { successes += 1 } } else if result != .failed(.noSuchPool) { successes += 1 }
            case 1:
                let status = host.put(attacker, ownPool ? pool &+ 1 : pool, 1, index, junk)
                if status != .noSuchPool { successes += 1 }
            case 2:
                let (status, held) = host.flushPage(attacker, pool: pool, object: 1, index: index)
                if held || (!ownPool && status != .noSuchPool) { successes += 1 }
            case 3:
                let (status, dropped) = host.flushObject(attacker, pool: pool, object: 1)
                if dropped > 0 || (!ownPool && status != .noSuchPool) { successes += 1 }
            default:
                if !ownPool, host.destroyPool(attacker, pool: pool) != .noSuchPool { successes += 1 }
            }
        }
        #expect(successes == 0, "of 100,000 attempts on pools that are not the attacker's, \(successes) succeeded")
        for (pool, pages) in model {
            for (index, bytes) in pages { #expect(try host.page(victim, pool, 1, index) == bytes, "pool \(pool) index \(index)") }
        }
        let rows = host.statistics().clients
        #expect(rows.first { $0.session == attacker.id }?.storedPages == 0)
        #expect(rows.first { $0.session == attacker.id }.map { $0.refusals[.noSuchPool] } ?? 0 > 0, "counted")
    }
}
