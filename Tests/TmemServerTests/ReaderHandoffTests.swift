import Glibc
import Synchronization
import Testing
import Tmem
import TmemTestKit

/// The remote backend's connections are read by their callers in turn (leader/follower: whoever waits
/// first reads, then hands the role to another waiter) and by a monitor thread while nobody waits.
/// These tests hold that scheme to what callers need: every caller gets its own reply, under many
/// threads per connection; an idle client still hears the host's notices and its closing.
@Suite struct ReaderHandoffTests {
    /// Threads × operations on one or two connections, each thread with its own object: every get
    /// returns the bytes last put under its key (checked against a per-thread model), none is lost.
    @Test(arguments: [1, 2])
    func everyCallerGetsItsOwnReply(connections: Int) throws {
        let seed = testSeed("reader handoff (\(connections) connections)", default: 0x5EED_4A4D)
        let local = try LocalHost(capacity: 64 << 20)
        defer { local.stop() }
        let remote = try local.client(connections: connections)
        defer { remote.close() }
        let pool = try remote.createPool(.persistent)
        let failures = Atomic<Int>(0)
        try runConcurrently(threads: 8) { thread in
            var rng = SeededGenerator(seed: seed &+ UInt64(thread))
            var model: [UInt32: UInt8] = [:]
            var page = [UInt8](repeating: 0, count: pageSize)
            var back = [UInt8](repeating: 0, count: pageSize)
            for _ in 0..<1500 {
                let index = UInt32.random(in: 0..<64, using: &rng)
                let key = Key(pool: pool, object: ObjectID(rawValue: UInt64(thread)), index: PageIndex(rawValue: index))
                if Bool.random(using: &rng) {
                    let fill = UInt8.random(in: 1...255, using: &rng)
                    for i in stride(from: 0, to: pageSize, by: 97) { page[i] = fill &+ UInt8(truncatingIfNeeded: i) }
                    page[0] = fill
                    let result = page.withUnsafeBytes { remote.put(key, page: $0) }
                    guard case .stored = result else { failures.add(1, ordering: .relaxed); continue }
                    model[index] = fill
                } else {
                    let hit = try back.withUnsafeMutableBytes { try remote.get(key, into: $0) }
                    if hit != (model[index] != nil) || (hit && back[0] != model[index]!) { failures.add(1, ordering: .relaxed) }
                }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
    }

    /// A client that sends nothing still receives a shrink notice (its monitor reads it), lets it lapse
    /// once the host no longer sends it, and sees the host go: its session's pages are then reported
    /// lost, not missing.
    @Test func anIdleClientHearsNoticesAndTheHostClosing() throws {
        let local = try LocalHost(capacity: 64 << 20, tickNanoseconds: 50_000_000)
        let remote = try local.client()
        defer { remote.close() }
        let pool = try remote.createPool(.persistent)
        var rng = SeededGenerator(seed: testSeed("idle client", default: 7))
        var page = [UInt8](repeating: 0, count: pageSize)
        for i in 0..<256 {
            for j in page.indices { page[j] = UInt8.random(in: 0...255, using: &rng) }
            let key = Key(pool: pool, object: ObjectID(rawValue: 1), index: PageIndex(rawValue: UInt32(i)))
            guard case .stored = page.withUnsafeBytes({ remote.put(key, page: $0) }) else {
                Issue.record("put \(i) refused")
                return
            }
        }
        // From another session (an admin's): the client itself stays idle.
        let admin = try local.client(name: "admin")
        try admin.configureHost("capacity=\(64 << 10)")
        admin.close()
        #expect(poll(seconds: 5) { remote.shrinkTarget != nil }, "no shrink notice reached the idle client")
        // The host regains room: the notice is not sent again and lapses at its deadline (2 s).
        let admin2 = try local.client(name: "admin")
        try admin2.configureHost("capacity=\(64 << 20)")
        admin2.close()
        #expect(poll(seconds: 6) { remote.shrinkTarget == nil }, "a lifted shrink notice stayed in force")
        local.stop()
        #expect(poll(seconds: 5) { remote.statistic("sessions_lost") > 0 }, "the idle client did not see the host close")
        var back = [UInt8](repeating: 0, count: pageSize)
        let key = Key(pool: pool, object: ObjectID(rawValue: 1), index: PageIndex(rawValue: 0))
        #expect(throws: TmemError.self) { _ = try back.withUnsafeMutableBytes { try remote.get(key, into: $0) } }
    }
}
