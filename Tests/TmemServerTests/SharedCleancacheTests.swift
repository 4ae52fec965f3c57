import Testing
import Tmem
import TmemCleancache
import TmemHost
import TmemRemote
import TmemTestKit

/// Cleancache's shared pools across sessions of one host (``Cleancache/initSharedFS(uuid:)`` over
/// ``RemoteBackend``): what one session puts the others get, what one invalidates none gets, another uuid
/// names another pool, and the host counts what every session did under cleancache's names.
@Suite(.serialized) struct SharedCleancacheTests {
    static let uuid = PoolUUID(low: 0x0123_4567_89AB_CDEF, high: 0xFEDC_BA98_7654_3210)

    /// One client process's view: its own session (a remote backend) and its own cleancache over it.
    struct Client {
        let remote: RemoteBackend
        let cache: Cleancache
        let pool: FSPool

        init(_ local: LocalHost, name: String, uuid: PoolUUID = SharedCleancacheTests.uuid) throws {
            remote = try local.client(name: name)
            cache = Cleancache(backend: remote)
            pool = try cache.initSharedFS(uuid: uuid)
        }

        @discardableResult
        func put(_ file: UInt64, _ index: UInt32, version: UInt64) -> Bool {
            taggedPage(file: file, index: index, version: version).withUnsafeBytes { cache.put(pool, file: file, index: index, page: $0) }
        }

        /// The version of the page got, or nil on a miss.
        func get(_ file: UInt64, _ index: UInt32) -> UInt64? {
            var out = [UInt8](repeating: 0, count: pageSize)
            guard out.withUnsafeMutableBytes({ cache.get(pool, file: file, index: index, into: $0) }) else { return nil }
            let version = versionOf(out)
            return out == taggedPage(file: file, index: index, version: version) ? version : .max
        }

        /// The cleancache's own counters (succ_gets, failed_gets, puts, invalidates).
        var counts: [Int] { cache.namedStatistics.prefix(4).map(\.value) }
    }

    /// The host's cleancache counters of the session named `name` (succ_gets, failed_gets, puts, invalidates).
    private func hostCounts(_ local: LocalHost, _ name: String) throws -> [Int] {
        let row = try #require(local.host.statistics().clients.first { $0.name == name })
        return row.cleancache.namedValues.prefix(4).map(\.value)
    }

    @Test func pagesAndInvalidationsOfOneSessionAreSeenByTheOther() throws {
        let local = try LocalHost()
        defer { local.stop() }
        let alice = try Client(local, name: "alice")
        let bob = try Client(local, name: "bob")
        let carol = try Client(local, name: "carol", uuid: PoolUUID(low: 1, high: 2))
        for file: UInt64 in 1...2 {
            for index: UInt32 in 0..<8 { #expect(alice.put(file, index, version: 1)) }
        }
        for file: UInt64 in 1...2 {
            for index: UInt32 in 0..<8 { #expect(bob.get(file, index) == 1, "bob gets alice's page \(file)/\(index)") }
        }
        #expect(carol.get(1, 0) == nil && carol.get(2, 7) == nil, "another uuid is another pool")
        #expect(bob.put(1, 0, version: 2))
        #expect(alice.get(1, 0) == 2, "put-put-get across sessions: the second page")

        bob.cache.invalidatePage(bob.pool, file: 1, index: 0)
        #expect(alice.get(1, 0) == nil)
        alice.cache.invalidateFile(alice.pool, file: 2)
        #expect((0..<8).allSatisfy { bob.get(2, $0) == nil }, "bob sees alice's invalidation of the file")
        #expect(bob.get(1, 1) == 1, "pages of other files stay")
        alice.cache.invalidateFS(alice.pool)
        #expect((0..<8).allSatisfy { bob.get(1, $0) == nil }, "and of the whole pool")
        #expect(bob.put(1, 3, version: 3))
        #expect(alice.get(1, 3) == 3, "the pool stays shared after invalidate_fs")
        #expect(carol.get(1, 3) == nil)

        // Exactly what each did: alice 16 puts, 3 gets (two hits), 2 invalidations; bob 16 hits, 8 misses,
        // 1 hit, 8 misses, 2 puts, 1 invalidation; carol 3 misses.
        #expect(alice.counts == [2, 1, 16, 2])
        #expect(bob.counts == [17, 16, 2, 1])
        #expect(carol.counts == [0, 3, 0, 0])
        for (name, client) in [("alice", alice), ("bob", bob), ("carol", carol)] {
            #expect(try hostCounts(local, name) == client.counts, "the host counted \(name)'s operations")
        }
        let stats = local.host.statistics()
        #expect(stats.cleancache.namedValues.map(\.value) == [19, 20, 18, 3, 0])
        #expect(stats.cleancache.pools == 2 && stats.shared.pools == 2, "two uuids")
        #expect(stats.shared.pages == 1 && stats.clients.allSatisfy { $0.storedPages == 0 }, "shared pages are the shared account's")
    }

    @Test func aSessionWithoutTheSecretMayNotJoin() throws {
        let local = try LocalHost()
        defer { local.stop() }
        let remote = try local.client(name: "stranger", withSecret: false)
        let cache = Cleancache(backend: remote)
        #expect(throws: TmemError.self) { try cache.initSharedFS(uuid: Self.uuid) }
        #expect(local.host.statistics().shared.pools == 0)
    }

    @Test func theSharedPagesOutliveASessionAndAReconnectionJoinsThemAgain() throws {
        let local = try LocalHost()
        defer { local.stop() }
        let alice = try Client(local, name: "alice")
        let bob = try Client(local, name: "bob")
        for index: UInt32 in 0..<4 { #expect(alice.put(5, index, version: 1)) }
        alice.remote.close()
        #expect(poll(seconds: 30) { local.host.statistics().clients.count == 1 }, "alice's session ended")
        #expect((0..<4).allSatisfy { bob.get(5, $0) == 1 }, "her pages stay for bob")
        #expect(alice.put(5, 9, version: 4), "a put reconnects and joins the uuid again")
        #expect(bob.get(5, 9) == 4)
        #expect(alice.get(5, 0) == 1, "and alice sees the pool's older pages again")

        let second = try alice.cache.initSharedFS(uuid: Self.uuid)
        #expect(second == alice.pool, "one cleancache, one uuid: one pool")
        alice.cache.closeFS(second)
        #expect(alice.get(5, 9) == 4, "a reference given back; the pool is still held")
        alice.cache.closeFS(alice.pool)
        #expect(poll(seconds: 30) { local.host.statistics().clients.first { $0.name == "alice" }?.pools == 0 })
        #expect(bob.get(5, 9) == 4 && local.host.statistics().shared.pools == 1, "bob's pool stays")
    }

    @Test func twoSessionsOnOnePoolFollowOneModel() throws {
        var rng = seededGenerator("twoSessionsOnOnePoolFollowOneModel", default: 0x5EED)
        let local = try LocalHost()
        defer { local.stop() }
        let clients = [try Client(local, name: "alice"), try Client(local, name: "bob")]
        // The host has room for every page, so nothing is evicted and a get of a cached key must hit.
        var model: [String: UInt64] = [:]
        var version: UInt64 = 0
        for step in 0..<1500 {
            let client = clients.randomElement(using: &rng)!
            let file = UInt64.random(in: 1...3, using: &rng)
            let index = UInt32.random(in: 0..<12, using: &rng)
            let name = "\(file)/\(index)"
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<40:
                version += 1
                #expect(client.put(file, index, version: version))
                model[name] = version
            case 40..<90:
                #expect(client.get(file, index) == model[name], "step \(step): \(name)")
            case 90..<96:
                client.cache.invalidatePage(client.pool, file: file, index: index)
                model[name] = nil
            case 96..<99:
                client.cache.invalidateFile(client.pool, file: file)
                model = model.filter { !$0.key.hasPrefix("\(file)/") }
            default:
                client.cache.invalidateFS(client.pool)
                model = [:]
            }
        }
        for (client, name) in zip(clients, ["alice", "bob"]) {
            #expect(try hostCounts(local, name) == client.counts, "\(name)")
        }
        #expect(local.host.statistics().shared.pages == model.count)
    }

    @Test(.enabled(if: tmemdExecutable != nil, "no tmemd executable beside the test bundle"))
    func twoClientsOfARealTmemdShareAPoolAndItsSTATSCountThem() throws {
        let daemon = try TmemdProcess()
        let caches = try ["alice", "bob"].map { Cleancache(backend: try daemon.client(name: $0)) }
        let pools = try caches.map { try $0.initSharedFS(uuid: Self.uuid) }
        let page = taggedPage(file: 9, index: 1, version: 7)
        #expect(page.withUnsafeBytes { caches[0].put(pools[0], file: 9, index: 1, page: $0) })
        var out = [UInt8](repeating: 0, count: pageSize)
        #expect(out.withUnsafeMutableBytes { caches[1].get(pools[1], file: 9, index: 1, into: $0) } && out == page)
        caches[1].invalidatePage(pools[1], file: 9, index: 1)
        #expect(!out.withUnsafeMutableBytes { caches[0].get(pools[0], file: 9, index: 1, into: $0) })
        let json = try daemon.client(name: "observer").hostStatisticsJSON()
        let cleancache = "\"cleancache\":{\"pools\":1,\"succ_gets\":"
        #expect(json.contains("\"name\":\"alice\",") && json.contains(cleancache + "0,\"failed_gets\":1,\"puts\":1,\"invalidates\":0,"), "\(json)")
        #expect(json.contains(cleancache + "1,\"failed_gets\":0,\"puts\":0,\"invalidates\":1,"), "\(json)")
        #expect(json.contains("\"shared\":{\"pools\":1,\"pages\":0,"), "\(json)")
    }

    @Test(arguments: [false, true])
    func theCleancacheContractHoldsOnASharedRemotePool(wholeFile: Bool) throws {
        let contract = CleancacheContract(name: "remote shared", shared: true) { capacity in try HostedBackend(capacity: capacity) }
        if !wholeFile { try expectNone(contract.checkCoherency(steps: 3000, exclusive: false)) }
        try expectNone(contract.checkInvalidationRaces(invalidations: 100, wholeFile: wholeFile))
    }
}
