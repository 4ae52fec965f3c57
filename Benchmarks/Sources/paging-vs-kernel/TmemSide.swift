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
        let result = region.withUnsafeMutableBytes { memory in measure(workload, base: memory.baseAddress!, region: region, threads: spec.threads) }
        _ = region.close()
        return result
    }
}

func broughtBack(_ s: PagingStatistics) -> Int { s.majorFaults + s.prefetchHits }
