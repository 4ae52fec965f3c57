import Glibc
import Testing
import Tmem
import TmemFrontswap
import TmemRemote
import TmemSwapFile
import TmemTestKit

/// A planned shutdown loses nothing (SEMANTICS.md, "The host": a planned shutdown drains first): with
/// frontswap and its reclaimer over the remote backend and a real swap file, every page in tmemd, SIGTERM
/// makes the host send a shrink notice with target 0; the reclaimer repatriates every page to the swap
/// file before the host exits; tmemd exits 0 within its drain timeout; and every page reads back exactly
/// from the swap file, none lost.
@Suite struct DrainTests {
    static let pages = 1500
    static let drainTimeoutSeconds = 20.0

    @Test func sigtermDrainsEveryPageToTheSwapFileBeforeTheHostExits() throws {
        let seed = testSeed("sigtermDrainsEveryPageToTheSwapFileBeforeTheHostExits", default: 0xD4A1)
        let daemon = try TmemdProcess(options: ["--drain-timeout", "\(Int(Self.drainTimeoutSeconds))"])
        let remote = try daemon.client(name: "drained")
        let reclaimer = Reclaimer(backend: remote, maintenanceIntervalMilliseconds: 20)
        let frontswap = Frontswap(backend: remote, reclaimer: reclaimer)
        let area = SwapArea(0)
        let swap = try SwapFile.temporary(in: daemon.directory.path, slots: Self.pages)
        try frontswap.initArea(area, pages: Self.pages, device: swap)
        func page(_ slot: Int) -> [UInt8] { taggedPage(UInt64(slot), seed: seed, kind: slot % 3 == 0 ? .random : .textLike) }
        for slot in 0..<Self.pages {
            let result = try page(slot).withUnsafeBytes { try frontswap.store(area, offset: PageOffset(slot), page: $0) }
            #expect(result == .tmem, "slot \(slot) did not go to the host")
        }
        #expect(frontswap.currPages == Self.pages)
        try reclaimer.start()
        defer { reclaimer.stop() }

        let started = monotonicNanoseconds()
        daemon.send(SIGTERM)
        let exitCode = try daemon.waitForExit(seconds: Self.drainTimeoutSeconds + 10)
        let seconds = Double(monotonicNanoseconds() - started) / 1e9
        print("drain: tmemd exited \(exitCode.map(String.init) ?? "by a signal") after \(Int(seconds * 1000)) ms; \(reclaimer.statistics)")
        #expect(exitCode == 0, "tmemd's standard error:\n\(daemon.standardError)")
        #expect(seconds < Self.drainTimeoutSeconds, "the drain ran into its timeout")
        #expect(!daemon.standardError.contains("drain timed out"))

        #expect(frontswap.currPages == 0)
        #expect(remote.statistic("shrink_notices") >= 1)
        var wrong: [Int] = []
        for slot in 0..<Self.pages {
            var bytes = [UInt8](repeating: 0xEE, count: pageSize)
            let result = try bytes.withUnsafeMutableBytes { try frontswap.load(area, offset: PageOffset(slot), into: $0) }
            if result != .disk || bytes != page(slot) { wrong.append(slot) }
        }
        #expect(wrong.count == 0, "slots not read back exactly from the swap file: \(wrong.prefix(20))")
        #expect(frontswap.counters.lostPages == 0 && remote.statistic("lost_pages") == 0)
        #expect(frontswap.counters.repatriatedPages == Self.pages)
    }
}
