import NIOCore
import Testing
import Tmem
import TmemRemote
import TmemTestKit
import TmemWire

/// Isolation through the real daemon (SEMANTICS.md, "The host": a pool id means something only within
/// its own session; Xen's XSA-15): while a victim stores and reads its pages from two threads over two
/// connections, attackers on other sessions (Unix socket and TCP, one even under the victim's client
/// name) name the victim's pool ids, its keys and random ids in GET, PUT, FLUSH_PAGE, FLUSH_OBJECT,
/// DESTROY_POOL and BATCH frames, pipelined from raw sockets.
///
/// Attackers create no pool of their own, so every id they name is another session's or none: each
/// attempt must be answered `no such pool` (DESTROY_POOL of an unknown pool: `ok`, with nothing
/// destroyed), never with a page; and the victim's pages are all there, unchanged, afterwards.
@Suite struct DaemonIsolationTests {
    static let attackers = 4
    static let attemptsPerAttacker = 25_000

    @Test func noSessionReachesAnothersPagesAmongManyClients() throws {
        let seed = testSeed("noSessionReachesAnothersPagesAmongManyClients", default: 0x150)
        let daemon = try TmemdProcess()
        let victim = try daemon.client(name: "victim", connections: 2)
        let kinds: [PoolKind] = [.persistent, .persistent, .ephemeral, .persistent]
        let pools = try kinds.map { try victim.createPool($0) }
        // 4 pools × 4 objects × 32 indexes; the tag of a key's page says which put it was.
        let keys = pools.flatMap { pool in (0..<4).flatMap { object in (0..<32).map { key(pool, UInt64(object), UInt32($0)) } } }
        let model = Locked([Key: UInt64]())
        try runConcurrently(threads: 2) { thread in
            for (n, key) in keys.enumerated() where n % 2 == thread {
                let tag = UInt64(n)
                guard victim.put(key, taggedPage(tag, seed: seed)) == .stored else { throw DaemonTestFailure("victim's put of \(key) refused") }
                model.withLock { $0[key] = tag }
            }
        }

        // The attack, while the victim keeps working on its own pages (re-puts and checked gets).
        let attack = Locked<(attempts: Int, violations: [String])>((0, []))
        let done = Locked(0)
        let (unix, tcp, secret) = (daemon.unix, daemon.tcp, daemon.secret)
        try runConcurrently(threads: Self.attackers + 2) { thread in
            if thread >= Self.attackers {
                // The victim, on two threads (its two connections): each thread owns half of the keys.
                var rng = SeededGenerator(seed: seed &+ 100 &+ UInt64(thread))
                var round: UInt64 = 1
                while done.value < Self.attackers {
                    let n = Int(rng.next() % UInt64(keys.count / 2)) * 2 + (thread - Self.attackers)
                    let key = keys[n]
                    if rng.next() % 2 == 0 {
                        let tag = UInt64(n) | round << 32
                        round += 1
                        guard victim.put(key, taggedPage(tag, seed: seed)) == .stored else { throw DaemonTestFailure("victim's re-put of \(key) refused") }
                        model.withLock { $0[key] = tag }
                    } else {
                        let expected = taggedPage(model.withLock { $0[key]! }, seed: seed)
                        guard try victim.page(key) == expected else { throw DaemonTestFailure("victim's \(key) changed under the attack") }
                    }
                }
                return
            }
            defer { done.withLock { $0 += 1 } }
            var rng = SeededGenerator(seed: seed &+ UInt64(thread))
            let client = try RawClient(thread % 2 == 0 ? unix : tcp)
            try client.handshake(name: thread == 0 ? "victim" : "attacker\(thread)", secret: secret)
            let (attempts, violations) = try Self.attack(client, victimKeys: keys, rng: &rng)
            attack.withLock { $0.attempts += attempts; $0.violations += violations }
        }
        let (attempts, violations) = attack.withLock { $0 }
        print("isolation: \(attempts) attempts on other sessions' pools, \(violations.count) reached anything")
        #expect(attempts >= 100_000)
        #expect(violations.count == 0, "\(violations.prefix(10).joined(separator: "\n"))")

        // Every page of the victim is there, with the bytes of its last put; the host holds no more.
        for key in keys {
            let expected = taggedPage(model.withLock { $0[key]! }, seed: seed)
            #expect(try victim.page(key) == expected, "the victim's \(key) is gone or changed")
        }
        for pool in pools { #expect(victim.usage(of: pool)?.pages == 4 * 32, "the victim's \(pool) lost or gained pages") }
        #expect(victim.statistic("lost_pages") == 0)
    }

    @Test func joiningAnotherSessionWithoutItsTokenFails() throws {
        let seed = testSeed("joiningAnotherSessionWithoutItsTokenFails", default: 0x151)
        var rng = SeededGenerator(seed: seed)
        let daemon = try TmemdProcess()
        let victim = try daemon.rawClient(name: "victim")
        let pool = try victim.createPool()
        let page = taggedPage(1, seed: seed)
        #expect(try victim.request(FrameHeader(op: .put, requestID: 9, pool: pool), payload: page).header.status == .ok)
        let id = try #require(victim.welcome).sessionID
        // The session ids are guessable; the token is not. A wrong one is refused, and the connection closed.
        for guess in [id, id + 1, id &- 1, 0, rng.next()] {
            for overTCP in [false, true] {
                let intruder = try RawClient(overTCP ? daemon.tcp : daemon.unix)
                let join = SessionJoin(id: guess, token: SessionToken(rng.next(), rng.next()))
                #expect(try intruder.handshake(name: "victim", secret: daemon.secret, join: join) == .authFailed)
                #expect(intruder.closedByHost(), "a refused JOIN leaves the connection open")
            }
        }
        let reply = try victim.request(FrameHeader(op: .get, requestID: 10, pool: pool))
        #expect(reply.header.status == .ok && Array(buffer: reply.payload) == page)
    }

    /// One attacker's attempts, pipelined 128 requests at a time: each request's reply is checked
    /// against what isolation allows (nothing but `no such pool`, or `ok` for DESTROY_POOL).
    ///
    /// - Returns: The attempts made (a BATCH counts one per entry), and a line per one that got anything.
    static func attack(_ client: RawClient, victimKeys: [Key], rng: inout SeededGenerator) throws -> (Int, [String]) {
        var attempts = 0
        var violations: [String] = []
        var requestID: UInt32 = 100
        let page = [UInt8](repeating: 0x5A, count: pageSize)
        while attempts < attemptsPerAttacker {
            var buffer = ByteBuffer()
            var sent: [(id: UInt32, op: WireOp, entries: Int)] = []
            for _ in 0..<128 {
                requestID &+= 1
                // Mostly the victim's pool ids (1...4, the host's numbering of a new session's pools) and
                // keys; sometimes anything at all.
                let pool = rng.next() % 4 == 0 ? UInt32(truncatingIfNeeded: rng.next()) : UInt32(rng.next() % 6)
                let victimKey = victimKeys[Int(rng.next() % UInt64(victimKeys.count))]
                let random = rng.next() % 4 == 0
                let object = random ? rng.next() : victimKey.object.rawValue
                let index = random ? UInt32(truncatingIfNeeded: rng.next()) : victimKey.index.rawValue
                func header(_ op: WireOp) -> FrameHeader {
                    FrameHeader(op: op, requestID: requestID, pool: pool, object: object, index: index)
                }
                switch rng.next() % 6 {
                case 0:
                    buffer.writeFrame(header(.get))
                    sent.append((requestID, .get, 1))
                case 1:
                    page.withUnsafeBytes { buffer.writeFrame(header(.put), payload: $0) }
                    sent.append((requestID, .put, 1))
                case 2:
                    buffer.writeFrame(header(.flushPage))
                    sent.append((requestID, .flushPage, 1))
                case 3:
                    buffer.writeFrame(header(.flushObject))
                    sent.append((requestID, .flushObject, 1))
                case 4:
                    buffer.writeFrame(header(.destroyPool))
                    sent.append((requestID, .destroyPool, 1))
                default:
                    let ops: [WireOp] = [.get, .put, .flushPage]
                    let entries = (0..<(1 + Int(rng.next() % 8))).map { _ in ops[Int(rng.next() % 3)] }
                    var batch = header(.batch)
                    batch.count = UInt16(entries.count)
                    buffer.writeFrameHeader(batch)
                    for (n, op) in entries.enumerated() {
                        let entryIndex = index &+ UInt32(n)
                        if op == .put {
                            page.withUnsafeBytes { buffer.writeBatchEntry(op: .put, object: object, index: entryIndex, payload: $0) }
                        } else {
                            buffer.writeBatchEntry(op: op, object: object, index: entryIndex)
                        }
                    }
                    sent.append((requestID, .batch, entries.count))
                }
            }
            try client.send(buffer)
            for request in sent {
                attempts += request.entries
                guard let reply = try client.nextReply() else { throw DaemonTestFailure("the host closed an attacker's connection") }
                let h = reply.header
                func violation(_ what: String) { violations.append("\(request.op) \(request.id) on pool \(h.pool): \(what)") }
                guard h.requestID == request.id, h.op == request.op else {
                    violation("answered out of order by \(h.op) \(h.requestID)")
                    continue
                }
                switch request.op {
                case .destroyPool:
                    if h.status != .ok { violation("status \(h.status)") }
                case .batch:
                    if reply.entries.count != request.entries { violation("\(reply.entries.count) entries") }
                    for entry in reply.entries where entry.status != .noSuchPool || entry.payload.readableBytes != 0 {
                        violation("entry \(entry.op) got \(entry.status) with \(entry.payload.readableBytes) bytes")
                    }
                case .flushPage, .flushObject:
                    // `index` of a flush's reply counts what it dropped.
                    if h.status != .noSuchPool || h.index != 0 { violation("got \(h.status), dropped \(h.index)") }
                default:
                    if h.status != .noSuchPool || reply.payload.readableBytes != 0 {
                        violation("got \(h.status) with \(reply.payload.readableBytes) bytes")
                    }
                }
            }
        }
        return (attempts, violations)
    }
}
