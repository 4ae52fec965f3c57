import Testing
import Tmem
import TmemHost
@testable import TmemServer

/// `/metrics`: figures in base units under `tmem_*`, one series per open session, and none left for a
/// session that ended (a gone client's last figures must not be scraped forever).
struct MetricsTests {
    @Test func sessionsComeAndGoFromTheExposition() throws {
        let host = try Host(configuration: HostConfiguration(capacity: .bytes(8 << 20)))
        let metrics = ServerMetrics()
        let alice = host.openSession(name: "alice", secretAuthenticated: false, isAdmin: false)
        let bob = host.openSession(name: "bob", secretAuthenticated: false, isAdmin: false)
        let (status, pool) = host.createPool(alice, ephemeral: false, sharedUUID: nil)
        #expect(status == .ok)
        var page = [UInt8](repeating: 0, count: pageSize)
        for i in 0..<3 {
            page[0] = UInt8(i + 1)
            let stored = page.withUnsafeBytes { host.put(alice, pool: pool, object: 1, index: UInt32(i), payload: $0, compressed: false) }
            #expect(stored == .ok)
        }
        let before = String(decoding: metrics.exposition(of: host), as: UTF8.self)
        #expect(before.contains("tmem_client_stored_pages{client=\"alice\",session=\"\(alice.id)\"} 3"), "\(before)")
        #expect(before.contains("session=\"\(bob.id)\""))
        #expect(before.contains("tmem_capacity_bytes \(8 << 20)"))
        #expect(before.contains("# HELP tmem_sessions"))

        host.closeSession(alice)
        let after = String(decoding: metrics.exposition(of: host), as: UTF8.self)
        #expect(!after.contains("client=\"alice\""), "a closed session's series stay: \(after)")
        #expect(after.contains("session=\"\(bob.id)\""))
        #expect(after.contains("tmem_sessions 1"))
    }

    @Test func cleancacheCountersAreExportedUnderTheKernelsNames() throws {
        let host = try Host(configuration: HostConfiguration(capacity: .bytes(8 << 20)))
        let metrics = ServerMetrics()
        let alice = host.openSession(name: "alice", secretAuthenticated: false, isAdmin: false)
        let (_, pool) = host.createPool(alice, ephemeral: true, sharedUUID: nil)
        let page = [UInt8](repeating: 3, count: pageSize)
        #expect(page.withUnsafeBytes { host.put(alice, pool: pool, object: 1, index: 0, payload: $0, compressed: false) } == .ok)
        var out = [UInt8](repeating: 0, count: pageSize)
        for index: UInt32 in [0, 0, 1] {
            _ = out.withUnsafeMutableBytes { host.get(alice, pool: pool, object: 1, index: index, into: $0, acceptCompressed: false) }
        }
        _ = host.flushObject(alice, pool: pool, object: 1)
        let text = String(decoding: metrics.exposition(of: host), as: UTF8.self)
        let labels = "{client=\"alice\",session=\"\(alice.id)\"}"
        for (name, value) in [("succ_gets", 2), ("failed_gets", 1), ("puts", 1), ("invalidates", 1), ("evicted_pages", 0)] {
            #expect(text.contains("tmem_cleancache_\(name) \(value).0\n"), "\(name): \(text)")
            #expect(text.contains("tmem_client_cleancache_\(name)\(labels) \(value).0\n"), "\(name): \(text)")
        }
        #expect(text.contains("# HELP tmem_cleancache_succ_gets Gets that returned a page"))
    }
}
