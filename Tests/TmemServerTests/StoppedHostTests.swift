import Glibc
import Testing
import Tmem
import TmemFrontswap
import TmemRemote
import TmemSwapFile
import TmemTestKit

/// A host that stops answering (SIGSTOP: the process is there, its sockets accept bytes, nothing comes
/// back): the remote backend never hangs. Within its timeout (300 ms here) a put is refused
/// `.unreachable` (frontswap then writes the page to its swap file) and a get fails with a retryable
/// error; batches alike. After SIGCONT the same session works again: pages stored before are there,
/// and a put that timed out left nothing under its key.
@Suite struct StoppedHostTests {
    static let timeoutMilliseconds: UInt64 = 300
    /// The most any call may take while the host is stopped: its timeout, and room for a shared machine
    /// that stalls every process now and then for seconds (memory reclaim of a busy neighbour).
    static let boundSeconds = 10.0

    @Test func aStoppedHostTimesOutAndThenServesAgain() throws {
        let seed = testSeed("aStoppedHostTimesOutAndThenServesAgain", default: 0x5709)
        let daemon = try TmemdProcess()
        let remote = try daemon.client(name: "patient", timeoutMilliseconds: Self.timeoutMilliseconds)
        let pool = try remote.createPool(.persistent)
        let held = key(pool, 0, 0)
        #expect(remote.put(held, taggedPage(0, seed: seed)) == .stored)
        let frontswap = Frontswap(backend: remote)
        let swap = try SwapFile.temporary(in: daemon.directory.path, slots: 16)
        try frontswap.initArea(SwapArea(0), pages: 16, device: swap)

        daemon.send(SIGSTOP)
        #expect(poll(seconds: 30) { daemon.isStopped() }, "tmemd did not stop")

        /// Runs `body`, expecting it to take the timeout but never more than the bound.
        func timed<R>(_ what: String, _ body: () throws -> R) rethrows -> R {
            let started = monotonicNanoseconds()
            let result = try body()
            let seconds = Double(monotonicNanoseconds() - started) / 1e9
            print("stopped host: \(what) returned after \(Int(seconds * 1000)) ms")
            #expect(seconds >= Double(Self.timeoutMilliseconds) / 1000 * 0.95, "\(what) returned before its timeout")
            #expect(seconds < Self.boundSeconds, "\(what) took \(seconds) s")
            return result
        }
        let refused = key(pool, 0, 1)
        #expect(timed("put") { remote.put(refused, taggedPage(1, seed: seed)) } == .refused(.unreachable))
        timed("get") {
            do throws(TmemError) {
                let page = try remote.page(held)
                Issue.record("a stopped host answered a get: \(page == nil ? "miss" : "a page")")
            } catch {
                #expect(error.isRetryable, "a stopped host's get failed with \(error), not a retryable error")
            }
        }
        let keys = (2..<6).map { key(pool, 0, UInt32($0)) }
        let pages = keys.indices.map { taggedPage(UInt64(10 + $0), seed: seed) }
        var putResults = [PutResult](repeating: .stored, count: keys.count)
        timed("putBatch") {
            keys.withUnsafeBufferPointer { k in
                withPagePointers(pages) { p in
                    putResults.withUnsafeMutableBufferPointer { remote.putBatch(k, pages: p, results: $0) }
                }
            }
        }
        #expect(putResults.allSatisfy { $0 == .refused(.unreachable) }, "\(putResults)")
        // Frontswap, in front of the stopped host: the page goes to the swap file and reads back from it.
        let page = taggedPage(20, seed: seed)
        let stored = try timed("frontswap store") {
            try page.withUnsafeBytes { try frontswap.store(SwapArea(0), offset: PageOffset(3), page: $0) }
        }
        #expect(stored == .disk(.unreachable))
        var loaded = [UInt8](repeating: 0, count: pageSize)
        #expect(try loaded.withUnsafeMutableBytes { try frontswap.load(SwapArea(0), offset: PageOffset(3), into: $0) } == .disk)
        #expect(loaded == page)
        #expect(remote.statistic("timeouts") >= 3)

        daemon.send(SIGCONT)
        // The host first works through what queued up while it was stopped; then puts are stored again.
        let again = key(pool, 1, 0)
        #expect(poll(seconds: 30) { remote.put(again, taggedPage(30, seed: seed)) == .stored }, "no put stored after SIGCONT")
        #expect(try remote.page(again) == taggedPage(30, seed: seed))
        #expect(try remote.page(held) == taggedPage(0, seed: seed), "the page stored before SIGSTOP")
        // A put refused as unreachable leaves nothing: the host did it late, and the flush behind it.
        #expect(try remote.page(refused) == nil)
        for k in keys { #expect(try remote.page(k) == nil) }
        #expect(remote.statistic("sessions_lost") == 0 && remote.statistic("lost_pages") == 0)
    }
}
