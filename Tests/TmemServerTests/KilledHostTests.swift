import Glibc
import Testing
import Tmem
import TmemFrontswap
import TmemRemote
import TmemSwapFile
import TmemTestKit

/// A host that dies loses what it held (SEMANTICS.md, "The host"): frontswap over the remote backend
/// (what `--backend remote` builds), with a real swap file, holds some pages in tmemd (up to the
/// client's 1 MiB cap) and wrote the rest to its swap file; then tmemd is killed with SIGKILL.
///
/// Every load of a page the host held fails with a lost-page error (and is counted in `lost_pages` and
/// frontswap's `lostPages`; the slot is emptied), never with bytes; every page on the swap file reads
/// back intact; and once tmemd is started again, the backend reconnects and new stores go to the host.
@Suite struct KilledHostTests {
    static let slots = 600

    @Test func pagesOfAKilledHostAreLostNeverWrong() throws {
        let seed = testSeed("pagesOfAKilledHostAreLostNeverWrong", default: 0x9)
        let daemon = try TmemdProcess(options: ["--client", "swapper:cap=1MiB"])
        let remote = try daemon.client(name: "swapper", reconnectIntervalMilliseconds: 20)
        let frontswap = Frontswap(backend: remote)
        let area = SwapArea(0)
        let swap = try SwapFile.temporary(in: daemon.directory.path, slots: Self.slots + 64)
        try frontswap.initArea(area, pages: Self.slots + 64, device: swap)
        func page(_ slot: Int, round: UInt64 = 0) -> [UInt8] {
            taggedPage(UInt64(slot) | round << 32, seed: seed, kind: slot % 2 == 0 ? .random : .textLike)
        }
        func load(_ slot: Int) throws(FrontswapError) -> (LoadResult, [UInt8]) {
            var bytes = [UInt8](repeating: 0xEE, count: pageSize)
            var failure: FrontswapError?
            let result = bytes.withUnsafeMutableBytes { raw -> LoadResult in
                do throws(FrontswapError) { return try frontswap.load(area, offset: PageOffset(slot), into: raw) } catch {
                    failure = error
                    return .notStored
                }
            }
            if let failure { throw failure }
            return (result, bytes)
        }

        var inHost: [Int] = []
        var onDisk: [Int] = []
        for slot in 0..<Self.slots {
            let result = try page(slot).withUnsafeBytes { try frontswap.store(area, offset: PageOffset(slot), page: $0) }
            if result == .tmem { inHost.append(slot) } else { onDisk.append(slot) }
        }
        print("killed host: \(inHost.count) pages in the host, \(onDisk.count) on the swap file")
        try #require(!inHost.isEmpty && !onDisk.isEmpty, "the cap should have sent some pages to each place")
        for slot in [inHost.first!, inHost.last!] { #expect(try load(slot) == (.tmem, page(slot))) }

        daemon.send(SIGKILL)
        #expect(try daemon.waitForExit(seconds: 30) == nil, "tmemd was not ended by the signal")
        // The client learns of it from its connection.
        #expect(poll(seconds: 30) { remote.statistic("sessions_lost") == 1 }, "the backend did not notice the host die")

        var returned: [Int] = []
        var notLost: [String] = []
        for slot in inHost {
            do {
                let (result, bytes) = try load(slot)
                returned.append(slot)
                if bytes == page(slot) { notLost.append("\(slot): \(result) with its bytes, from a dead host") }
            } catch {
                if !error.isPageLost { notLost.append("\(slot): \(error)") }
            }
        }
        #expect(returned.count == 0, "loads of pages the dead host held returned bytes: \(returned.prefix(10))")
        #expect(notLost.count == 0, "\(notLost.prefix(10).joined(separator: "\n"))")
        #expect(remote.statistic("lost_pages") == inHost.count)
        #expect(frontswap.counters.lostPages == inHost.count)
        #expect(frontswap.currPages == 0)
        // A lost page is reported once; its slot then holds nothing.
        #expect(try load(inHost[0]).0 == .notStored)
        for slot in onDisk {
            let (result, bytes) = try load(slot)
            #expect(result == .disk && bytes == page(slot), "slot \(slot) on the swap file")
        }

        // While the host is gone, stores go to the swap file.
        #expect(try page(inHost[0], round: 1).withUnsafeBytes { try frontswap.store(area, offset: PageOffset(inHost[0]), page: $0) } != .tmem)
        // Started again, it gets the backend's new stores (the backend reconnects and makes its pool anew).
        try daemon.start()
        let slot = Self.slots
        #expect(poll(seconds: 30) {
            (try? page(slot, round: 2).withUnsafeBytes { try frontswap.store(area, offset: PageOffset(slot), page: $0) }) == .tmem
        }, "no store reached the restarted host")
        #expect(try load(slot) == (.tmem, page(slot, round: 2)))
        #expect(try load(inHost[0]) == (.disk, page(inHost[0], round: 1)))
        #expect(remote.statistic("reconnects") >= 1)
    }
}
