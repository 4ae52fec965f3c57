import Testing
import Tmem
import TmemTestKit
@testable import TmemHost

/// Caps: a client never holds more than its cap (counted as charged, compressed bytes), is refused
/// only when less than a page's charge is left, and every page the host accepted reads back.
struct HostCapTests {
    @Test func capsAreExactToWithinOnePageAgainstAModel() throws {
        var rng = seededGenerator("HostCapTests.capsAreExactToWithinOnePageAgainstAModel", default: 71)
        let caps = ["alice": 300 << 10, "bob": 1 << 20, "carol": 64 << 10]
        let host = try makeHost(
            capacity: 64 << 20, clients: caps.mapValues { ClientPolicy(cap: $0) }, defaultPolicy: ClientPolicy(cap: 1))
        // Two sessions for alice: one account, one cap.
        let sessions = ["alice", "alice", "bob", "carol"].map { host.openSession(name: $0, secretAuthenticated: false, isAdmin: false) }
        var pools: [(session: Session, pool: UInt32, ephemeral: Bool)] = []
        for s in sessions {
            pools.append((s, try host.pool(s, ephemeral: false), false))
            pools.append((s, try host.pool(s, ephemeral: true), true))
        }
        // What each persistent key must read back (or nil: must miss).
        var model: [String: [UInt8]] = [:]
        var refusedCap = 0
        for step in 0..<6000 {
            let (s, pool, ephemeral) = pools[Int(rng.next() % UInt64(pools.count))]
            let object = rng.next() % 3, index = UInt32(rng.next() % 200)
            let name = "\(s.id)/\(pool)/\(object)/\(index)"
            if rng.next() % 5 == 0 {
                _ = host.flushPage(s, pool: pool, object: object, index: index)
                model[name] = nil
                continue
            }
            let used = host.row(s.name).used
            let bytes = page(PageKind.allCases.randomElement(using: &rng)!, tag: rng.next(), &rng)
            let status = host.put(s, pool, object, index, bytes)
            switch status {
            case .ok: if !ephemeral { model[name] = bytes }
            case .refusedCap:
                refusedCap += 1
                model[name] = nil
                #expect(used + pageCharge > caps[s.name]!, "step \(step): refused with \(caps[s.name]! - used) bytes of cap left")
            default:
                Issue.record("step \(step): unexpected \(status)")
            }
            let after = host.row(s.name).used
            #expect(after <= caps[s.name]!, "step \(step): \(s.name) holds \(after) bytes, its cap is \(caps[s.name]!)")
        }
        #expect(refusedCap > 100, "the caps were reached")
        for (s, pool, ephemeral) in pools where !ephemeral {
            for object in 0..<UInt64(3) {
                for index in 0..<UInt32(200) {
                    let expected = model["\(s.id)/\(pool)/\(object)/\(index)"]
                    #expect(try host.page(s, pool, object, index) == expected, "\(s) pool \(pool) (\(object), \(index))")
                }
            }
        }
        let counted = host.statistics().clients.reduce(0) { $0 + $1.refusals[.refusedCap] }
        #expect(counted == refusedCap, "every refusal counted by client and reason")
    }

    @Test func aLoweredCapRefusesAtOnceAndAsksForTheExcessBack() throws {
        var rng = seededGenerator("aLoweredCapRefusesAtOnceAndAsksForTheExcessBack", default: 72)
        let host = try makeHost(capacity: 64 << 20)
        let s = host.openSession(name: "alice", secretAuthenticated: false, isAdmin: false)
        let persistent = try host.pool(s, ephemeral: false), ephemeral = try host.pool(s, ephemeral: true)
        for i in 0..<200 {
            #expect(host.put(s, persistent, 0, UInt32(i) * 64, page(.textLike, tag: UInt64(i), &rng)) == .ok)
            #expect(host.put(s, ephemeral, 0, UInt32(i) * 64, page(.textLike, tag: UInt64(i), &rng)) == .ok)
        }
        let persistentUsed = host.statistics().clients[0].usedBytes / 2
        host.configure(client: "alice", policy: ClientPolicy(cap: persistentUsed / 2))
        #expect(host.put(s, persistent, 1, 0, page(.textLike, tag: 1, &rng)) == .refusedCap)
        let notices = host.tick(nowNanoseconds: 1_000_000_000)
        let row = host.statistics().clients[0]
        #expect(row.storedPages == row.persistentPages, "its own ephemeral pages went first")
        #expect(row.persistentPages == 200, "persistent pages are never dropped")
        let notice = try #require(notices.first)
        #expect(notices.count == 1 && notice.session === s)
        #expect(notice.targetPages <= 110 && notice.targetPages >= 80, "about half its persistent pages: \(notice.targetPages)")
    }
}
