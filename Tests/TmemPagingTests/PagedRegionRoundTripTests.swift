import Synchronization
import Testing
import Tmem
import TmemPaging
import TmemTestKit

/// Byte-exact paging against a model: what was written is what is read, whatever tier the page visited.
@Suite(.enabled(if: Kernel.allowsUserfaultfd, refusedReason))
struct PagedRegionRoundTripTests {
    static let regionPages = 2048
    static let budgetPages = 256

    @Test(arguments: BackendKind.allCases)
    func randomWritesAndReadsOfARegionEightTimesItsBudgetRoundTrip(backend kind: BackendKind) throws {
        var generator = seededGenerator("randomWritesAndReads(backend: \(kind))", default: 0x7061_6769_6E67)
        let backend = try kind.make(regionPages: Self.regionPages)
        let region = try PagedRegion(
            size: Self.regionPages * pageSize,
            backend: backend,
            configuration: .init(residentBudget: Self.budgetPages * pageSize)
        )
        var versions = [Int](repeating: 0, count: Self.regionPages)
        var mismatches: [Int] = []
        region.withUnsafeMutableBytes { bytes in
            for _ in 0..<6000 {
                let page = Int.random(in: 0..<Self.regionPages, using: &generator)
                if generator.next() & 1 == 0 {
                    versions[page] += 1
                    Pattern.fill(bytes, page: page, version: versions[page])
                } else if !Pattern.matches(bytes, page: page, version: versions[page]) {
                    mismatches.append(page)
                }
            }
            for page in 0..<Self.regionPages where !Pattern.matches(bytes, page: page, version: versions[page]) {
                mismatches.append(page)
            }
        }
        let stats = region.statistics
        print(stats)
        #expect(mismatches.isEmpty, "pages that came back wrong: \(mismatches.prefix(10))")
        #expect(stats.residentPages <= Self.budgetPages)
        #expect(stats.zeroFillFaults > 0)
        #expect(stats.majorFaults > 0)
        #expect(stats.evictions > 0)
        switch kind {
        case .ram: #expect(stats.tmemFaults > 0 && stats.diskFaults == 0)
        case .smallRAM, .zcache: #expect(stats.diskFaults > 0, "the swap file should have served some faults")
        }
        region.close()
    }

    /// Every colocation: with `.pinFaultingThread` the handler pins the threads that fault, so only
    /// threads of this test (never the test runner's) touch the region.
    @Test(arguments: PagedRegion.Colocation.allCases)
    func severalThreadsFaultAtOnce(colocation: PagedRegion.Colocation) throws {
        let seed = testSeed("severalThreadsFaultAtOnce(colocation: \(colocation))", default: 0x7468_7265_6164)
        let threads = 4
        let pages = 1024
        let sharedPages = 128  // written first, then only read, by every thread
        let region = try ramRegion(pages: pages, configuration: .init(residentBudget: 64 * pageSize, colocation: colocation))
        let failures = Mutex<[String]>([])
        try region.withUnsafeMutableBytes { bytes in
            let shared = SharedBytes(bytes: bytes)
            try runConcurrently(threads: 1) { _ in
                for page in 0..<sharedPages { Pattern.fill(shared.bytes, page: page, version: 1) }
            }
            try runConcurrently(threads: threads) { thread in
                var generator = SeededGenerator(seed: seed &+ UInt64(thread))
                var versions = [Int: Int]()
                // Thread t owns the private pages p with p % threads == t.
                let own = stride(from: sharedPages + thread, to: pages, by: threads).map { $0 }
                for _ in 0..<1500 {
                    switch generator.next() % 3 {
                    case 0:
                        let page = own.randomElement(using: &generator)!
                        versions[page, default: 0] += 1
                        Pattern.fill(shared.bytes, page: page, version: versions[page]!)
                    case 1:
                        let page = own.randomElement(using: &generator)!
                        if !Pattern.matches(shared.bytes, page: page, version: versions[page, default: 0]) {
                            failures.withLock { $0.append("thread \(thread): page \(page)") }
                        }
                    default:
                        let page = Int.random(in: 0..<sharedPages, using: &generator)
                        if !Pattern.matches(shared.bytes, page: page, version: 1) {
                            failures.withLock { $0.append("thread \(thread): shared page \(page)") }
                        }
                    }
                }
                for page in own where !Pattern.matches(shared.bytes, page: page, version: versions[page, default: 0]) {
                    failures.withLock { $0.append("thread \(thread): final page \(page)") }
                }
            }
        }
        let stats = region.close()
        print(stats)
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0.prefix(10) })")
        #expect(stats.majorFaults > 0)
        #expect(stats.frontswap.currPages == 0)
    }

    @Test
    func theBudgetCanChangeWhileRunning() throws {
        let pages = 1024
        let region = try ramRegion(pages: pages, configuration: .init(residentBudget: 256 * pageSize))
        region.withUnsafeMutableBytes { bytes in
            Pattern.fillAll(bytes, pages: pages, version: 1)
        }
        let filled = region.statistics
        // Reclaim ahead of faults keeps up to two eviction batches (1/32 of the budget each) free.
        #expect(filled.residentPages <= 256 && filled.residentPages >= 256 - 256 / 16)

        try region.setResidentBudget(64 * pageSize)
        let (budget, lowered) = (region.residentBudget, region.statistics)
        #expect(budget == 64 * pageSize)
        #expect(lowered.residentPages <= 64)
        #expect(lowered.residentBudgetPages == 64)

        try region.setResidentBudget(512 * pageSize)
        let allMatch = region.withUnsafeMutableBytes { bytes in
            (0..<pages).allSatisfy { Pattern.matches(bytes, page: $0, version: 1) }
        }
        #expect(allMatch)
        let stats = region.statistics
        #expect(stats.residentPages > 256 && stats.residentPages <= 512)

        var refused = false
        do { try region.setResidentBudget(PagedRegion.minimumResidentBudget - 1) } catch {
            refused = error.isInvalidArgument
        }
        #expect(refused)
        region.close()
    }
}
