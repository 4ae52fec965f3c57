import Tmem
import TmemPaging
import TmemReplay
import TmemZcache

/// Tmem's side: the same workload in a paged region with the same budget, Zcache (lz4) behind its
/// frontswap area with room for the whole region (as the zram device has), readahead and write
/// tracking on. What is counted per phase is each page brought back from swap: a major fault (served
/// from transcendent memory or the swap file), or a page readahead brought in that was then used; the
/// kernel's side counts its major faults, one per page on zram (which skips swap readahead).
struct TmemSide {
    let spec: RunSpec

    func run() throws -> SideResult {
        let (regionBytes, budgetBytes, corpusPath, seed) = (spec.regionBytes, spec.budgetBytes, spec.corpusPath, spec.seed)
        let corpus = try PageCorpus(path: corpusPath)
        let zcache = try Zcache(configuration: .init(limit: regionBytes + (64 << 20)))
        var configuration = PagedRegion.Configuration(residentBudget: budgetBytes)
        // One thread touches the region: it runs beside the fault handler (see `Colocation`).
        configuration.colocation = .pinFaultingThread
        let region = try PagedRegion(size: regionBytes, backend: zcache, configuration: configuration)
        let workload = Workload(corpus: corpus, pages: regionBytes / 4096, seed: seed)
        let randomOrder = workload.randomOrder
        let result = region.withUnsafeMutableBytes { memory -> SideResult in
            let base = memory.baseAddress!
            workload.fill(base)
            let f0 = broughtBack(region.statistics)
            let rand = workload.readBack(base, order: randomOrder)
            let f1 = broughtBack(region.statistics)
            workload.fill(base)
            let f2 = broughtBack(region.statistics)
            let seq = workload.readBack(base, order: workload.sequentialOrder)
            let f3 = broughtBack(region.statistics)
            return SideResult(
                randSeconds: rand.seconds, randFaults: f1 - f0, seqSeconds: seq.seconds, seqFaults: f3 - f2,
                mismatches: rand.mismatches + seq.mismatches)
        }
        _ = region.close()
        return result
    }
}

func broughtBack(_ s: PagingStatistics) -> Int { s.majorFaults + s.prefetchHits }
