#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization
import Testing
import Tmem
import TmemPaging
import TmemTestKit

/// What a region does when frontswap cannot bring a page back: a backend that does not answer for a
/// while is waited out; a page that is gone fails the faulting access with SIGBUS (as the kernel fails a
/// page it cannot read back from swap), never maps wrong bytes and never traps the handler.
@Suite(.enabled(if: Kernel.allowsUserfaultfd, refusedReason))
struct PagedRegionLossTests {
    @Test func aBackendThatDoesNotAnswerForAWhileIsWaitedOut() throws {
        let pages = 64
        let faulty = FaultyBackend(wrapping: RAMPool(capacity: pages * pageSize))
        let region = try filledRegion(faulty, pages: pages, readahead: 0)
        // Every get fails twice with a timeout, then succeeds: each major fault retries its way through.
        let attempts = Mutex<[Key: Int]>([:])
        faulty.setGetFailureRule { key in
            attempts.withLock { seen in
                seen[key, default: 0] += 1
                return seen[key]! <= 2 ? .unavailable("the host did not answer (injected)") : nil
            }
        }
        let exact = region.withUnsafeMutableBytes { bytes in
            (0..<pages).allSatisfy { Pattern.matches(bytes, page: $0, version: 1) }
        }
        #expect(exact)
        let stats = region.close()
        #expect(stats.tmemFaults > 0)
        #expect(stats.lostPages == 0)
        #expect(stats.frontswap.retryableErrors >= 2 * stats.tmemFaults)
    }

    @Test func aLostPageFailsItsAccessWithSIGBUS() async {
        await #expect(processExitsWith: .signal(SIGBUS)) {
            let faulty = FaultyBackend(wrapping: RAMPool(capacity: 64 * pageSize))
            let region = try filledRegion(faulty, pages: 64, readahead: 0)
            faulty.setGetFailureRule { _ in .lost("the host restarted (injected)") }
            // Page 0 was evicted long ago (the budget is 16 pages): reading it must raise SIGBUS.
            let first = region.withUnsafeMutableBytes { $0.load(as: UInt64.self) }
            print("read \(first) from a lost page instead of failing")
        }
    }

    @Test func neighboursThatCannotComeBackAreLeftOutOfAReadaheadRun() async {
        await #expect(processExitsWith: .signal(SIGBUS)) {
            let faulty = FaultyBackend(wrapping: RAMPool(capacity: 256 * pageSize))
            let region = try filledRegion(faulty, pages: 256, readahead: 8)
            // Pages 3 and 7 are lost. A sequential read of 0, 1, 2 grows a readahead run (1...3) that
            // reaches page 3: the run must stop short of it, the pages before it (loaded into the same
            // staging buffer) must land at their own addresses, and page 3 must stay unmapped.
            faulty.setGetFailureRule { [3, 7].contains($0.index.rawValue) ? .lost("injected") : nil }
            let exact = region.withUnsafeMutableBytes { bytes in
                (0..<3).allSatisfy { Pattern.matches(bytes, page: $0, version: 1) }
            }
            precondition(exact, "a page next to a lost one came back wrong")
            precondition(region.statistics.prefetchedPages > 0, "readahead did not run, so no run met a lost page")
            // Touching the lost page, left out of the run, fails now (mapped from the run, it would read).
            let lost = region.withUnsafeMutableBytes { $0.load(fromByteOffset: 3 * pageSize, as: UInt64.self) }
            print("read \(lost) from a lost page instead of failing")
        }
    }
}

/// A region over a fault-injecting RAM pool, every page written (version 1), most of them evicted (the
/// budget is the minimum, 16 pages).
private func filledRegion(_ faulty: FaultyBackend, pages: Int, readahead: Int) throws -> PagedRegion {
    let region = try PagedRegion(
        size: pages * pageSize, backend: faulty,
        configuration: .init(residentBudget: PagedRegion.minimumResidentBudget, readaheadMaxPages: readahead))
    region.withUnsafeMutableBytes { Pattern.fillAll($0, pages: pages, version: 1) }
    return region
}
