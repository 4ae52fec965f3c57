import Testing
import Tmem
import TmemTestKit
@testable import TmemHost

/// A host that deduplicates ephemeral pages (``HostConfiguration/deduplicateEphemeral``) stores two
/// clients' equal pages once, still charges each client its pages in full, and never shares a
/// persistent page.
struct HostDeduplicationTests {
    @Test func twoClientsEqualPagesAreStoredOnceAndChargedToEach() throws {
        var rng = seededGenerator("twoClientsEqualPagesAreStoredOnceAndChargedToEach", default: 0xD1)
        let pages = (0..<512).map { page(.textLike, tag: UInt64($0), &rng) }
        var memory: [Bool: Int] = [:]
        var charges: [Bool: [String: Int]] = [:]
        for deduplicate in [false, true] {
            let host = try Host(
                configuration: HostConfiguration(capacity: .bytes(16 << 20), deduplicateEphemeral: deduplicate),
                memory: .fixed(MemorySnapshot(totalBytes: 16 << 30, availableBytes: 8 << 30)))
            let alice = host.openSession(name: "alice", secretAuthenticated: false, isAdmin: false)
            let bob = host.openSession(name: "bob", secretAuthenticated: false, isAdmin: false)
            let a = try host.pool(alice, ephemeral: true)
            let b = try host.pool(bob, ephemeral: true)
            let swap = try host.pool(bob, ephemeral: false)
            for (i, bytes) in pages.enumerated() {
                #expect(host.put(alice, a, 1, UInt32(i), bytes) == .ok)
                #expect(host.put(bob, b, 7, UInt32(i), bytes) == .ok)
            }
            #expect(host.put(bob, swap, 0, 0, pages[0]) == .ok)
            charges[deduplicate] = Dictionary(uniqueKeysWithValues: host.statistics().clients.map { ($0.name, $0.usedBytes) })
            let s = host.store.statistics
            memory[deduplicate] = s.memUsedTotal
            // Bob's ephemeral pages share Alice's copies; his persistent page has its own.
            #expect(s.deduplicatedPages == (deduplicate ? pages.count : 0))
            // STATS (and `tmem stat`) report them host-wide, with the bytes saved.
            let reported = host.statistics()
            #expect(reported.deduplicatedPages == s.deduplicatedPages)
            #expect(reported.dedupSavedBytes == s.dedupSavedBytes)
            #expect(deduplicate ? reported.dedupSavedBytes > 0 : reported.dedupSavedBytes == 0)
            #expect(host.statisticsJSON().contains("\"deduplicated_pages\":\(s.deduplicatedPages),\"dedup_saved_bytes\":\(s.dedupSavedBytes),"))
            for (i, bytes) in pages.enumerated() {
                #expect(try host.page(alice, a, 1, UInt32(i)) == bytes)
                #expect(try host.page(bob, b, 7, UInt32(i)) == bytes)
            }
            #expect(try host.page(bob, swap, 0, 0) == pages[0])
        }
        // What a client is charged does not depend on what the other holds, nor on deduplication.
        #expect(charges[true] == charges[false])
        #expect(memory[true]! * 3 < memory[false]! * 2, "\(memory)")
    }
}
