import Testing
import Tmem
import TmemPaging
import TmemTestKit

/// Write tracking, readahead and victim choice: what the handler does beyond getting bytes right.
@Suite(.enabled(if: Kernel.allowsUserfaultfd, refusedReason))
struct PagedRegionPolicyTests {
    @Test(.enabled(if: Kernel.writeProtects, "the kernel has no userfaultfd write-protect for anonymous memory"))
    func cleanPagesAreNotStoredAgain() throws {
        let pages = 1024
        let budget = 128
        let region = try ramRegion(pages: pages, configuration: .init(residentBudget: budget * pageSize, readaheadMaxPages: 0))
        let tracking = region.isWriteTracking
        #expect(tracking)
        region.withUnsafeMutableBytes { bytes in
            Pattern.fillAll(bytes, pages: pages, version: 1)
        }
        let afterWrites = region.statistics
        // Two read-only passes: only the pages still dirty from the writes may be stored again.
        var exact = region.withUnsafeMutableBytes { bytes in
            (0..<2).allSatisfy { _ in (0..<pages).allSatisfy { Pattern.matches(bytes, page: $0, version: 1) } }
        }
        #expect(exact)
        let afterReads = region.statistics
        print(afterReads)
        #expect(afterReads.frontswap.succStores - afterWrites.frontswap.succStores <= budget)
        #expect(afterReads.cleanEvictionsSkipped >= 2 * pages - 3 * budget)
        #expect(afterReads.writeProtectFaults == 0)

        // Writes to pages mapped clean (the last ones read): a WP fault marks each dirty. Then writes to
        // evicted pages, which come back writable. The new bytes survive eviction either way.
        let written = { (page: Int) in page >= pages - budget / 2 || page % 3 == 0 }
        region.withUnsafeMutableBytes { bytes in
            for page in (pages - budget / 2)..<pages { Pattern.fill(bytes, page: page, version: 2) }
            for page in stride(from: 0, to: pages, by: 3) { Pattern.fill(bytes, page: page, version: 2) }
        }
        exact = region.withUnsafeMutableBytes { bytes in
            (0..<pages).allSatisfy { Pattern.matches(bytes, page: $0, version: written($0) ? 2 : 1) }
        }
        #expect(exact)
        let last = region.close()
        #expect(last.writeProtectFaults >= budget / 2)
        #expect(last.frontswap.invalidates > 0, "a written clean page's held copy is dropped")
    }

    /// Reclaim ahead of faults: the evictor stores and drops a batch while the handler serves faults, so
    /// of one thread writing a region eight times its budget, then reading it back at random, hardly a
    /// fault waits for an eviction (a direct reclaim: the evictor fell behind, as it may on a busy
    /// machine, so the bound is loose: one fault in ten), every byte comes back, and the budget holds.
    @Test
    func reclaimAheadSparesFaultsTheirEvictions() throws {
        let pages = 2048
        let budget = 256
        let region = try ramRegion(pages: pages, configuration: .init(residentBudget: budget * pageSize, readaheadMaxPages: 0))
        region.withUnsafeMutableBytes { Pattern.fillAll($0, pages: pages, version: 1) }
        let filled = region.statistics
        #expect(filled.evictions >= pages - budget)
        #expect(filled.directReclaims * 10 <= filled.faults, "\(filled)")
        var rng = seededGenerator("reclaimAheadSparesFaultsTheirEvictions", default: 0x7265_636c)
        let order = Array(0..<pages).shuffled(using: &rng)
        let exact = region.withUnsafeMutableBytes { bytes in order.allSatisfy { Pattern.matches(bytes, page: $0, version: 1) } }
        #expect(exact)
        let stats = region.close()
        print(stats)
        #expect(stats.majorFaults >= pages - budget)
        #expect(stats.directReclaims * 10 <= stats.faults, "\(stats)")
        #expect(stats.peakResidentPages <= budget)
    }

    @Test
    func withoutWriteProtectEveryEvictionStores() throws {
        let pages = 512
        let region = try ramRegion(pages: pages, configuration: .init(residentBudget: 64 * pageSize, writeProtect: false))
        let tracking = region.isWriteTracking
        #expect(!tracking)
        let exact = region.withUnsafeMutableBytes { bytes in
            Pattern.fillAll(bytes, pages: pages, version: 1)
            return (0..<2).allSatisfy { _ in (0..<pages).allSatisfy { Pattern.matches(bytes, page: $0, version: 1) } }
        }
        #expect(exact)
        let stats = region.close()
        #expect(stats.cleanEvictionsSkipped == 0)
        #expect(stats.writeProtectFaults == 0)
        #expect(stats.frontswap.succStores == stats.evictions)
    }

    /// A writer going through fresh memory in order gets its next pages mapped from zeros with each
    /// fault (readahead over never-stored pages): far fewer faults than pages. The pages mapped ahead
    /// that it never wrote are still zeros, also after they were evicted and came back, and the budget
    /// holds.
    @Test
    func aSequentialWriterOfFreshMemoryFaultsOncePerRun() throws {
        let pages = 4096
        let budget = 256
        let region = try ramRegion(pages: pages, configuration: .init(residentBudget: budget * pageSize))
        let written = { (page: Int) in page < 1000 || (page >= 2000 && page < 3000) }
        region.withUnsafeMutableBytes { bytes in
            for page in 0..<pages where written(page) { Pattern.fill(bytes, page: page, version: 1) }
        }
        let filled = region.statistics
        print(filled)
        #expect(filled.zeroFillFaults < 2000 / 8, "readahead over fresh pages should spare most faults")
        #expect(filled.prefetchHits > 2000 / 2)
        #expect(filled.peakResidentPages <= budget)
        let exact = region.withUnsafeMutableBytes { bytes in
            (0..<pages).allSatisfy { Pattern.matches(bytes, page: $0, version: written($0) ? 1 : 0) }
        }
        #expect(exact)
        let stats = region.close()
        #expect(stats.peakResidentPages <= budget)
    }

    @Test
    func readaheadServesASequentialScanAndWastesLittleOnRandomAccess() throws {
        var generator = seededGenerator("readaheadServesASequentialScan", default: 0x7265_6164)
        let pages = 2048
        let region = try ramRegion(pages: pages, configuration: .init(residentBudget: 256 * pageSize))
        region.withUnsafeMutableBytes { bytes in
            Pattern.fillAll(bytes, pages: pages, version: 1)
        }
        let before = region.statistics
        var exact = region.withUnsafeMutableBytes { bytes in
            (0..<pages).allSatisfy { Pattern.matches(bytes, page: $0, version: 1) }
        }
        let sequential = region.statistics
        print("sequential: \(sequential)")
        #expect(exact)
        #expect(sequential.prefetchHits - before.prefetchHits > pages / 2)
        #expect(sequential.majorFaults - before.majorFaults < pages / 8, "readahead should spare most faults")

        exact = region.withUnsafeMutableBytes { bytes in
            (0..<3000).allSatisfy { _ in
                Pattern.matches(bytes, page: Int.random(in: 0..<pages, using: &generator), version: 1)
            }
        }
        let random = region.close()
        print("random: \(random)")
        #expect(exact)
        let faults = random.majorFaults - sequential.majorFaults
        let wasted = random.prefetchWasted - sequential.prefetchWasted
        // The sequential scan's last window (up to 32 pages) is evicted unused during the random phase;
        // beyond it, a random fault next to a recent one rarely opens a small window.
        #expect(wasted <= 32 + faults / 20, "\(wasted) prefetched pages wasted over \(faults) random faults")
    }

    @Test
    func segmentedFaultsLessThanFIFOOnASkewedAccessPattern() throws {
        let seed = testSeed("segmentedFaultsLessThanFIFO", default: 0x7a69_7066)
        var faults: [PagedRegion.VictimPolicy: Int] = [:]
        for policy in PagedRegion.VictimPolicy.allCases {
            var generator = SeededGenerator(seed: seed)
            let pages = 2048
            let zipf = ZipfSampler(count: pages, generator: &generator)
            let region = try ramRegion(pages: pages, configuration: .init(residentBudget: 256 * pageSize, victimPolicy: policy, readaheadMaxPages: 0))
            let before = region.withUnsafeMutableBytes { bytes in
                for page in 0..<pages {
                    bytes.storeBytes(of: UInt64(page), toByteOffset: page * pageSize, as: UInt64.self)
                }
                return region.statistics.majorFaults
            }
            let exact = region.withUnsafeMutableBytes { bytes in
                (0..<20000).allSatisfy { _ in
                    let page = zipf.next(&generator)
                    return bytes.load(fromByteOffset: page * pageSize, as: UInt64.self) == UInt64(page)
                }
            }
            #expect(exact)
            faults[policy] = region.close().majorFaults - before
        }
        print("major faults on 20000 Zipf reads, 2048 pages, budget 256: \(faults)")
        #expect(faults[.segmented]! < faults[.fifo]!)
    }
}
