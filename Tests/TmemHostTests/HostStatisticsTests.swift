import Testing
import Tmem
import TmemTestKit
@testable import TmemHost

/// STATS: the snapshot's numbers and its JSON, with stable snake-case keys.
struct HostStatisticsTests {
    @Test func statisticsCountPagesBytesAndRefusals() throws {
        var rng = seededGenerator("statisticsCountPagesBytesAndRefusals", default: 121)
        let host = try makeHost(capacity: 8 << 20, clients: ["alice": ClientPolicy(weight: 2, cap: 40 << 10)])
        let s = host.openSession(name: "alice", secretAuthenticated: false, isAdmin: false)
        let pool = try host.pool(s, ephemeral: false)
        var ok = 0, refused = 0
        for i in 0..<100 {
            switch host.put(s, pool, 0, UInt32(i), page(.textLike, tag: UInt64(i), &rng)) {
            case .ok: ok += 1
            case .refusedCap: refused += 1
            case let other: Issue.record("\(other)")
            }
        }
        if host.put(s, pool, 0, 0, page(.zero, tag: 0, &rng)) == .refusedCap { refused += 1 }
        let stats = host.statistics()
        let row = try #require(stats.clients.first)
        #expect(row.name == "alice" && row.session == s.id && row.pools == 1 && row.weight == 2 && row.cap == 40 << 10)
        #expect(row.storedPages == stats.pages && row.persistentPages == row.storedPages)
        #expect(row.originalBytes == row.storedPages * pageSize)
        #expect(row.usedBytes == row.compressedBytes + 16 * row.storedPages)
        #expect(row.compressedBytes == host.store.statistics.comprDataSize)
        #expect(row.refusals[.refusedCap] == refused && refused > 0 && ok > 0)
        #expect(stats.usedBytes == row.usedBytes && stats.capacityBytes == 8 << 20)
    }

    @Test func theJSONHasEveryKeyInOrder() throws {
        var rng = seededGenerator("theJSONHasEveryKeyInOrder", default: 122)
        let host = try makeHost(capacity: 1 << 20)
        let s = host.openSession(name: "alice", secretAuthenticated: true, isAdmin: false)
        let pool = try host.pool(s, ephemeral: true)
        _ = try host.pool(s, ephemeral: true, shared: PoolUUID(low: 1, high: 1))
        #expect(host.put(s, pool, 0, 0, page(.textLike, tag: 1, &rng)) == .ok)
        _ = host.put(s, 99, 0, 0, page(.textLike, tag: 1, &rng))
        let json = host.statisticsJSON()
        let row = try #require(host.statistics().clients.first)
        let expectedClient =
            "{\"name\":\"alice\",\"session\":\(s.id),\"pools\":2,\"stored_pages\":1,\"persistent_pages\":0,"
            + "\"original_bytes\":4096,\"compressed_bytes\":\(row.compressedBytes),\"used_bytes\":\(row.usedBytes),"
            + "\"weight\":1,\"cap\":null,\"share\":\(row.share),\"refusals\":{\"refused_capacity\":0,\"refused_cap\":0,"
            + "\"refused_share\":0,\"refused_shrinking\":0,\"refused_invalidated\":0,\"refused_incompressible\":0,"
            + "\"no_such_pool\":1,\"refused\":0,\"bad_request\":0},\"evicted_pages\":0,\"shrink_notices\":0,"
            + "\"shrink_target_pages\":null,\"cleancache\":{\"pools\":2,\"succ_gets\":0,\"failed_gets\":0,\"puts\":1,"
            + "\"invalidates\":0,\"evicted_pages\":0}}"
        #expect(json.hasPrefix("{\"host\":{\"capacity_bytes\":1048576,\"capacity_setting\":\"1048576\",\"used_bytes\":"))
        #expect(json.hasSuffix(",\"clients\":[\(expectedClient)]}"), "\(json)")
        for key in ["stored_bytes", "memory_bytes", "pages", "persistent_pages", "ephemeral_pages", "evicted_pages",
            "draining", "sessions", "shared"]
        {
            #expect(json.contains("\"\(key)\":"), "host key \(key)")
        }
        #expect(json.contains("\"shared\":{\"pools\":1,\"pages\":0,"))
        #expect(json.contains(",\"cleancache\":{\"pools\":2,\"succ_gets\":0,\"failed_gets\":0,\"puts\":1,\"invalidates\":0,\"evicted_pages\":0}},\"clients\":"))
        #expect(json.filter { $0 == "{" }.count == json.filter { $0 == "}" }.count)
    }

    @Test func stringsAreEscaped() {
        #expect(JSONWriter.quoted("a\"b\\c\nd\u{01}é") == "\"a\\\"b\\\\c\\nd\\u0001é\"")
    }
}
