import ArgumentParser
import Testing
import Tmem
import TmemHost

@testable import TmemCLI

/// The pure parts of `tmem stat` and `tmem host-demo`: reading STATS JSON, the table's text, the
/// demo's bars, and their command lines, without a host.
struct StatTableTests {
    /// A host with two sessions and a shared pool, as ``Host/statistics()`` would give it.
    private func sampleStatistics() -> HostStatistics {
        var s = HostStatistics()
        s.capacityBytes = 64 << 20
        s.capacitySetting = .percentOfRAM(25)
        s.usedBytes = 16 << 20
        s.storedBytes = 15 << 20
        s.memoryBytes = 18 << 20
        s.pages = 12_000
        s.persistentPages = 10_000
        s.ephemeralPages = 2_000
        s.evictedPages = 7
        s.shared.pools = 1
        s.shared.pages = 100
        s.shared.storedBytes = 150 << 10
        s.shared.usedBytes = 200 << 10
        var db = ClientStatistics()
        db.name = "db"
        db.session = 3
        db.pools = 2
        db.storedPages = 10_000
        db.persistentPages = 9_000
        db.originalBytes = 10_000 * pageSize
        db.compressedBytes = 12 << 20
        db.usedBytes = 12 << 20 + 160_000
        db.weight = 4
        db.cap = 2 << 30
        db.share = 40 << 20
        db.evictedPages = 5
        db.shrinkNotices = 2
        db.shrinkTargetPages = 8_000
        var web = ClientStatistics()
        web.name = "web-frontend.1"
        web.session = 12
        web.pools = 1
        web.storedPages = 1_900
        web.persistentPages = 1_000
        web.originalBytes = 1_900 * pageSize
        web.compressedBytes = 3 << 20
        web.usedBytes = 3 << 20 + 30_400
        web.share = 20 << 20
        s.clients = [db, web]
        return s
    }

    @Test func theJSONOfAHostReadsBackAsItsStatistics() throws {
        let statistics = sampleStatistics()
        let read = try StatsSnapshot(json: statistics.json)
        #expect(read == StatsSnapshot(statistics))
        #expect(read.clients.map(\.name) == ["db", "web-frontend.1"])
        #expect(read.clients.first?.cap == 2 << 30)
        #expect(read.clients.last?.cap == nil)
        #expect(read.clients.first?.shrinkTargetPages == 8_000)
        #expect(read.host.capacitySetting == "25%")
    }

    @Test func theTableAlignsItsColumnsAndSaysWhatIsRefused() {
        var snapshot = StatsSnapshot(sampleStatistics())
        snapshot.clients[0].refusals = [("refused_share", 100), ("refused_shrinking", 20), ("no_such_pool", 0)]
        #expect(StatTable.lines(snapshot, address: "unix:/run/tmem/tmemd.sock") == [
            "tmemd at unix:/run/tmem/tmemd.sock: capacity 64.0 MiB (25% of RAM); 16.0 MiB used (25%), 15.0 MiB stored, 18.0 MiB of memory",
            "12000 pages (10000 persistent, 2000 ephemeral), 7 evicted; not draining",
            "NAME            SESSION  POOLS  PAGES  PERSISTENT       ORIG      COMPR       USED  WEIGHT      CAP     SHARE  REFUSED  EVICTED  SHRINKS",
            "db                    3      2  10000        9000  39.06 MiB   12.0 MiB  12.15 MiB       4  2.0 GiB  40.0 MiB      120        5        2",
            "web-frontend.1       12      1   1900        1000   7.42 MiB    3.0 MiB   3.03 MiB       1        -  20.0 MiB        0        0        0",
            "(shared)              -      1    100           0  400.0 KiB  150.0 KiB  200.0 KiB       -        -         -        -        -        -",
            "refused puts: db share 100, shrinking 20",
        ])
    }

    @Test func sessionsWithEphemeralPoolsGetACleancacheSection() throws {
        var statistics = sampleStatistics()
        statistics.cleancache.pools = 3
        statistics.cleancache.succGets = 900
        statistics.cleancache.failedGets = 101
        statistics.cleancache.puts = 1200
        statistics.cleancache.invalidates = 40
        statistics.cleancache.evictedPages = 7
        statistics.clients[1].cleancache.pools = 2
        statistics.clients[1].cleancache.succGets = 900
        statistics.clients[1].cleancache.failedGets = 100
        statistics.clients[1].cleancache.puts = 1200
        statistics.clients[1].cleancache.invalidates = 40
        var idle = ClientStatistics()
        idle.name = "idle"
        idle.session = 13
        idle.pools = 1
        idle.cleancache.pools = 1
        statistics.clients.append(idle)
        let snapshot = try StatsSnapshot(json: statistics.json)
        #expect(snapshot == StatsSnapshot(statistics))
        let lines = StatTable.lines(snapshot, address: nil)
        #expect(Array(lines.suffix(4)) == [
            "cleancache: 3 ephemeral pools; 900 succ_gets, 101 failed_gets (90% hits), 1200 puts, 40 invalidates, 7 evicted_pages",
            "NAME            SESSION  POOLS  SUCC_GETS  FAILED_GETS  HIT%  PUTS  INVALIDATES  EVICTED_PAGES",
            "web-frontend.1       12      2        900          100    90  1200           40              0",
            "idle                 13      1          0            0     -     0            0              0",
        ], "only sessions with ephemeral pools or counts, \(lines)")
    }

    @Test func statsOfAHostWithoutCleancacheCountersStillRead() throws {
        let cut = ",\"cleancache\":{\"pools\":0,\"succ_gets\":0,\"failed_gets\":0,\"puts\":0,\"invalidates\":0,\"evicted_pages\":0}"
        #expect(sampleStatistics().json.contains(cut))
        let json = sampleStatistics().json.replacingOccurrences(cut)
        let snapshot = try StatsSnapshot(json: json)
        #expect(snapshot.host.cleancache == nil && snapshot.clients.allSatisfy { $0.cleancache == nil })
        #expect(StatTable.lines(snapshot, address: nil) == StatTable.lines(StatsSnapshot(sampleStatistics()), address: nil))
        let broken = sampleStatistics().json.replacingFirst("\"succ_gets\":0", with: "\"succ_gets\":null")
        #expect(throws: StatsFormatError("host.cleancache.succ_gets is missing or not a whole number")) { try StatsSnapshot(json: broken) }
    }

    @Test func aDeduplicatingHostSaysWhatItSaved() throws {
        var statistics = sampleStatistics()
        statistics.deduplicatedPages = 14_384
        statistics.dedupSavedBytes = 29_130_000
        let snapshot = try StatsSnapshot(json: statistics.json)
        #expect(snapshot == StatsSnapshot(statistics))
        let line = try #require(StatTable.lines(snapshot, address: nil).dropFirst().first)
        #expect(line.contains(" evicted, 14384 deduplicated (27.78 MiB saved); "), "\(line)")
        // A host that does not report deduplication (an older one) reads as none.
        let older = sampleStatistics().json.replacingOccurrences(",\"deduplicated_pages\":0,\"dedup_saved_bytes\":0")
        #expect(try StatsSnapshot(json: older) == StatsSnapshot(sampleStatistics()))
    }

    @Test func aHostWithoutClientsSaysSo() {
        var statistics = HostStatistics()
        statistics.capacityBytes = 1 << 30
        statistics.capacitySetting = .auto(floorBytes: 64 << 20)
        statistics.draining = true
        var stat = ClientStatistics()
        stat.name = StatCommand.clientName
        statistics.clients = [stat]
        let lines = StatTable.lines(StatsSnapshot(statistics), address: nil, hiding: StatCommand.isOwnSession)
        #expect(lines == [
            "the host: capacity 1.0 GiB (auto, floor 64.0 MiB); 0 B used (0%), 0 B stored, 0 B of memory",
            "0 pages (0 persistent, 0 ephemeral), 0 evicted; DRAINING: every client is asked to repatriate its persistent pages",
            "no client sessions",
        ])
    }

    @Test func statsThatDoNotSayWhatTheTableShowsAreRefusedByName() {
        #expect(throws: StatsFormatError("the host's STATS are not JSON: a value was expected, the text ended at byte 0")) {
            try StatsSnapshot(json: "")
        }
        #expect(throws: StatsFormatError("the host's STATS have no \"host\" object")) { try StatsSnapshot(json: "{\"clients\":[]}") }
        let noPages = sampleStatistics().json.replacingFirst("\"pages\":12000", with: "\"pages\":\"many\"")
        #expect(throws: StatsFormatError("host.pages is missing or not a whole number")) { try StatsSnapshot(json: noPages) }
        let noCap = sampleStatistics().json.replacingFirst("\"cap\":2147483648,", with: "")
        #expect(throws: StatsFormatError("clients[0].cap is missing or not a whole number or null")) { try StatsSnapshot(json: noCap) }
    }

    @Test(arguments: [
        ("{\"a\":[1,-2,3.5,true,false,null,\"x\"]}",
         JSONValue.object(["a": .array([.integer(1), .integer(-2), .number(3.5), .bool(true), .bool(false), .null, .string("x")])])),
        (" [ ] ", .array([])),
        ("\"tab\\t quote\\\" \\u00e9 \\ud83d\\ude00 \\/\"", .string("tab\t quote\" é 😀 /")),
        ("1e3", .number(1000)),
        ("{\"k\":1,\"k\":2}", .object(["k": .integer(2)])),
    ])
    func jsonReadsWhatRFC8259Allows(text: String, value: JSONValue) throws {
        #expect(try JSONValue.parse(text) == value)
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\"1}", "01", "1.", "\"\\x\"", "\"a", "tru", "[1] 2", "\"\u{01}\""])
    func jsonRefusesWhatItDoesNotAllow(text: String) {
        #expect(throws: JSONError.self) { try JSONValue.parse(text) }
    }

    @Test func jsonNestingIsBounded() throws {
        let deep = String(repeating: "[", count: JSONValue.maxDepth) + String(repeating: "]", count: JSONValue.maxDepth)
        #expect(throws: Never.self) { try JSONValue.parse(deep) }
        #expect(throws: JSONError.self) { try JSONValue.parse("[" + deep + "]") }
    }

    @Test func barsShowUsedAgainstShare() {
        let w = HostDemoChart.width
        #expect(HostDemoChart.bar(used: 10, share: 20, scale: 40) == String(repeating: "#", count: w / 4)
            + String(repeating: ".", count: w / 4) + String(repeating: " ", count: w / 2))
        #expect(HostDemoChart.bar(used: 30, share: 20, scale: 40) == String(repeating: "#", count: w / 2)
            + String(repeating: "+", count: w / 4) + String(repeating: " ", count: w / 4))
        #expect(HostDemoChart.bar(used: 80, share: 20, scale: 40) == String(repeating: "#", count: w / 2)
            + String(repeating: "+", count: w / 2 - 1) + ">")
        #expect(HostDemoChart.bar(used: 0, share: 0, scale: 40) == String(repeating: " ", count: w))
    }

    @Test func statAndHostDemoParseTheirOptions() throws {
        let stat = try #require(try TmemCommand.parseAsRoot(["stat", "--host", "127.0.0.1:7400", "--json", "--secret-file", "s"]) as? StatCommand)
        #expect(stat.host == "127.0.0.1:7400" && stat.json && stat.secretFile == "s")
        let plain = try #require(try TmemCommand.parseAsRoot(["stat"]) as? StatCommand)
        #expect(plain.host.hasSuffix("tmemd.sock") && !plain.json && plain.secretFile == nil, "the host's default socket")

        let demo = try #require(try TmemCommand.parseAsRoot(["host-demo"]) as? HostDemoCommand)
        #expect(demo.seconds == 16 && demo.pages == 4096 && demo.capacity == nil)
        let small = try #require(try TmemCommand.parseAsRoot(["host-demo", "--seconds", "4", "--pages", "256", "--capacity", "2MiB"]) as? HostDemoCommand)
        #expect(small.seconds == 4 && small.pages == 256 && small.capacity == 2 << 20)
        for (arguments, message) in [
            (["host-demo", "--seconds", "1"], "--seconds must be 2...3600"),
            (["host-demo", "--pages", "8"], "--pages must be 16...1048576"),
            (["host-demo", "--capacity", "64KiB"], "--capacity must be at least 1 MiB"),
        ] {
            do {
                _ = try TmemCommand.parseAsRoot(arguments)
                Issue.record("\(arguments) parsed")
            } catch {
                #expect(TmemCommand.message(for: error).contains(message), "\(arguments): \(TmemCommand.message(for: error))")
                #expect(TmemCommand.exitCode(for: error) == .validationFailure)
            }
        }
        let help = TmemCommand.helpMessage()
        #expect(help.contains("stat") && help.contains("host-demo"))
        #expect(!help.contains("host-demo-client"), "the demo's client is not for people")
    }
}

extension String {
    /// The text with every `target` removed.
    fileprivate func replacingOccurrences(_ target: String) -> String {
        var text = self
        while let range = text.firstRange(of: target) { text.removeSubrange(range) }
        return text
    }

    /// The text with the first `target` replaced (test fixtures edit one field of a JSON text).
    fileprivate func replacingFirst(_ target: String, with replacement: String) -> String {
        var text = self
        if let range = text.firstRange(of: target) { text.replaceSubrange(range, with: replacement) }
        return text
    }
}
