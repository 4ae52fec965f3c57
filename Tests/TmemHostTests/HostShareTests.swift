import Testing
import Tmem
import TmemTestKit
@testable import TmemHost

/// Weights: when clients contend for a full host, what they hold converges to their weighted shares;
/// room for a client below its share comes from ephemeral pages of the client furthest above its share,
/// least recently used first.
struct HostShareTests {
    @Test(arguments: [[1, 3], [1, 1, 2], [2, 3, 5]])
    func contendingClientsConvergeToTheirWeightedShares(weights: [Int]) throws {
        var rng = seededGenerator("contendingClientsConvergeToTheirWeightedShares\(weights)", default: 81)
        let capacity = 3 << 20
        let names = weights.indices.map { "client\($0)" }
        let host = try makeHost(
            capacity: capacity,
            clients: Dictionary(uniqueKeysWithValues: zip(names, weights.map { ClientPolicy(weight: $0) })))
        let sessions = names.map { host.openSession(name: $0, secretAuthenticated: false, isAdmin: false) }
        let pools = try sessions.map { try host.pool($0, ephemeral: true) }
        // The first client fills the host alone; then all put new pages in turn (one page per chunk, so
        // eviction takes one page at a time).
        var next = [UInt32](repeating: 0, count: names.count)
        func putNew(_ c: Int) -> HostStatus {
            defer { next[c] += 1 }
            return host.put(sessions[c], pools[c], 0, next[c] * 64, page(.textLike, tag: rng.next(), &rng))
        }
        while host.statistics().usedBytes + pageCharge <= capacity { _ = putNew(0) }
        for _ in 0..<4000 {
            for c in names.indices { _ = putNew(c) }
        }
        let total = weights.reduce(0, +)
        let stats = host.statistics()
        #expect(stats.usedBytes <= capacity)
        for (c, name) in names.enumerated() {
            let used = host.row(name).used
            let fair = capacity / total * weights[c]
            print("weights \(weights): \(name) holds \(used), its weighted part is \(fair)")
            #expect(abs(used - fair) <= capacity / 50, "\(name) (weight \(weights[c])) holds \(used), share \(fair)")
        }
        #expect(stats.evictedPages > 0)
        #expect(stats.clients.allSatisfy { $0.refusals[.refusedShare] + $0.refusals[.refusedCapacity] > 0 }, "each was refused")
    }

    @Test func roomComesFromTheClientFurthestAboveItsShareLeastRecentlyUsedFirst() throws {
        var rng = seededGenerator("roomComesFromTheClientFurthestAboveItsShare", default: 82)
        let host = try makeHost(capacity: 2 << 20)
        let far = host.openSession(name: "far", secretAuthenticated: false, isAdmin: false)
        let near = host.openSession(name: "near", secretAuthenticated: false, isAdmin: false)
        let farPools = [try host.pool(far, ephemeral: true), try host.pool(far, ephemeral: true)]
        let nearPool = try host.pool(near, ephemeral: true)
        // far fills about 70% over its two pools (alternating, so its LRU order crosses pools), near 30%.
        var farKeys: [(pool: UInt32, index: UInt32)] = []
        var i: UInt32 = 0
        while host.row("far").used < (2 << 20) / 10 * 7 {
            let pool = farPools[Int(i % 2)]
            #expect(host.put(far, pool, 0, i * 64, page(.textLike, tag: UInt64(i), &rng)) == .ok)
            farKeys.append((pool, i * 64))
            i += 1
        }
        var j: UInt32 = 0
        while host.statistics().usedBytes + pageCharge <= 2 << 20 {
            #expect(host.put(near, nearPool, 0, j * 64, page(.textLike, tag: UInt64(j), &rng)) == .ok)
            j += 1
        }
        // A hit on far's first ten pages makes them its most recently used.
        for k in farKeys.prefix(10) { #expect(try host.page(far, k.pool, 0, k.index) != nil) }
        let nearPages = host.row("near").pages
        // The newcomer is below its share: it gets room, from far only.
        let newcomer = host.openSession(name: "newcomer", secretAuthenticated: false, isAdmin: false)
        let newPool = try host.pool(newcomer, ephemeral: true)
        for n in 0..<UInt32(40) {
            #expect(host.put(newcomer, newPool, 0, n * 64, page(.textLike, tag: UInt64(n), &rng)) == .ok)
        }
        #expect(host.row("near").pages == nearPages, "the client less far above its share kept every page")
        let held = try farKeys.map { try host.page(far, $0.pool, 0, $0.index) != nil }
        let evicted = held.indices.filter { !held[$0] }
        #expect(!evicted.isEmpty)
        #expect(held.prefix(10).allSatisfy { $0 }, "recently read pages are kept")
        // Evicted: exactly the least recently used of the rest, whichever pool they were in.
        #expect(evicted == Array(10..<(10 + evicted.count)), "evicted \(evicted)")
    }

    @Test func aClientAtItsShareIsRefusedAndNobodyAboveMeansCapacity() throws {
        var rng = seededGenerator("aClientAtItsShareIsRefused", default: 83)
        let host = try makeHost(capacity: 1 << 20)
        let a = host.openSession(name: "a", secretAuthenticated: false, isAdmin: false)
        let b = host.openSession(name: "b", secretAuthenticated: false, isAdmin: false)
        let pa = try host.pool(a, ephemeral: false), pb = try host.pool(b, ephemeral: false)
        var i: UInt32 = 0
        // Alternate until full: both hold about half, persistent (nothing can be evicted).
        while true {
            let sa = host.put(a, pa, 0, i, page(.textLike, tag: UInt64(i), &rng))
            let sb = host.put(b, pb, 0, i, page(.textLike, tag: UInt64(i), &rng))
            i += 1
            if sa != .ok || sb != .ok { break }
        }
        let more = page(.textLike, tag: 999_999, &rng)
        let statuses = [host.put(a, pa, 1, 0, more), host.put(b, pb, 1, 0, more)]
        #expect(statuses.allSatisfy { $0 == .refusedShare || $0 == .refusedCapacity }, "\(statuses)")
        // A third client below its share finds nobody with ephemeral pages to give: refused for capacity.
        let c = host.openSession(name: "c", secretAuthenticated: false, isAdmin: false)
        let pc = try host.pool(c, ephemeral: true)
        #expect(host.put(c, pc, 0, 0, more) == .refusedCapacity)
        #expect(try host.page(c, pc, 0, 0) == nil)
        for k in 0..<i - 1 { #expect(try host.page(a, pa, 0, k) != nil, "persistent pages are never dropped") }
    }
}
