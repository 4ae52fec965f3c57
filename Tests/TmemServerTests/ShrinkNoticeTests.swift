import Testing
import Tmem
import TmemFrontswap
import TmemHost
import TmemRemote
import TmemSwapFile
import TmemTestKit

/// Shrink notices through the server (SEMANTICS.md, "The host": persistent pages are never dropped; the
/// host sends a shrink notice and the client repatriates): an admin lowers a running host's capacity
/// (CONFIGURE over the Unix socket) below what a frontswap client holds; the client's reclaimer receives
/// the notice and moves pages to its swap file until it complies; the host's statistics then show the
/// client within the new capacity with its notice lifted; and every page still reads back exactly.
@Suite struct ShrinkNoticeTests {
    static let pages = 2000

    @Test func loweringTheCapacityMakesTheClientRepatriateUntilItComplies() throws {
        let seed = testSeed("loweringTheCapacityMakesTheClientRepatriateUntilItComplies", default: 0x5421)
        let local = try LocalHost(capacity: 32 << 20, tickNanoseconds: 50_000_000)
        defer { local.stop() }
        let remote = try local.client(name: "swapper")
        let reclaimer = Reclaimer(backend: remote, maintenanceIntervalMilliseconds: 20)
        let frontswap = Frontswap(backend: remote, reclaimer: reclaimer)
        let area = SwapArea(0)
        let swap = try SwapFile.temporary(in: local.directory.path, slots: Self.pages)
        try frontswap.initArea(area, pages: Self.pages, device: swap)
        func page(_ slot: Int) -> [UInt8] { taggedPage(UInt64(slot), seed: seed, kind: slot % 2 == 0 ? .random : .textLike) }
        for slot in 0..<Self.pages {
            let result = try page(slot).withUnsafeBytes { try frontswap.store(area, offset: PageOffset(slot), page: $0) }
            #expect(result == .tmem)
        }
        let before = try #require(local.host.statistics().clients.first { $0.name == "swapper" })
        #expect(before.persistentPages == Self.pages)
        try reclaimer.start()
        defer { reclaimer.stop() }

        let lowered = before.usedBytes / 3
        let started = monotonicNanoseconds()
        try remote.configureHost("capacity=\(lowered)")
        #expect(local.host.capacityBytes == lowered)
        var row = before
        let complied = poll(seconds: 30) {
            guard let now = local.host.statistics().clients.first(where: { $0.name == "swapper" }) else { return false }
            row = now
            // The host lifts the notice once the client is within its share, which may be a little before
            // the client has reached the target of the last notice it received: wait for both.
            let held = frontswap.currPages
            return now.shrinkNotices >= 1 && now.shrinkTargetPages == nil && now.usedBytes <= lowered
                && held <= remote.shrinkTarget ?? Int.max && held == now.persistentPages
        }
        print("shrink: after \((monotonicNanoseconds() - started) / 1_000_000) ms, \(before.persistentPages) pages (\(before.usedBytes) bytes) down to \(row.persistentPages) (\(row.usedBytes) bytes) under a capacity of \(lowered); \(row.shrinkNotices) notices")
        #expect(complied, "the client did not comply: it holds \(row.usedBytes) bytes, target \(row.shrinkTargetPages.map(String.init) ?? "none")")
        // The client's view agrees with the host's; the pages it gave back are on its swap file.
        #expect(frontswap.currPages == row.persistentPages)
        #expect(frontswap.counters.repatriatedPages == Self.pages - row.persistentPages)
        #expect(remote.statistic("shrink_notices") >= 1)
        #expect(local.host.statistics().usedBytes <= lowered)

        var fromHost = 0
        var wrong: [Int] = []
        for slot in 0..<Self.pages {
            var bytes = [UInt8](repeating: 0xEE, count: pageSize)
            let result = try bytes.withUnsafeMutableBytes { try frontswap.load(area, offset: PageOffset(slot), into: $0) }
            if result == .tmem { fromHost += 1 }
            if result == .notStored || bytes != page(slot) { wrong.append(slot) }
        }
        #expect(wrong.count == 0, "slots not read back exactly: \(wrong.prefix(20))")
        #expect(fromHost == row.persistentPages && fromHost > 0, "the client should keep what its notice allows")
        #expect(frontswap.counters.lostPages == 0 && remote.statistic("lost_pages") == 0)
    }
}
