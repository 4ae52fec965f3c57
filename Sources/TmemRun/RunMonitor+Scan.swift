#if canImport(Glibc)
import Glibc
#endif
import CUserfaultfd
import Tmem
import TmemPaging

extension RunMonitor {
    /// Registers every process's new mappings, samples the tree's resident memory, and sets the paged
    /// pages' limit to the budget less what the tree holds unpaged (libraries, small mappings, stacks).
    ///
    /// With more than one process the tree's memory is the sum of proportional sizes, not of resident
    /// ones: after a fork without exec, parent and child share pages copy-on-write, which resident sizes
    /// count twice. The monitor's own count holds them twice as well, so the limit (budget − (tree −
    /// count)) keeps the tree's real memory within the budget; and a copy-on-write break, which no
    /// userfaultfd event reports, shows up at the next scan as memory the count does not hold.
    func scan() {
        var residentPages = 0
        let tracked = processes.withLock({ Array($0.values) })
        let proportional = tracked.count > 1
        for process in tracked {
            let pid = process.state.withLock { g -> Int32 in
                guard !g.ended, g.pid > 0 else { return 0 }
                registerNewMappings(process, &g)
                return g.pid
            }
            if pid > 0, let pages = proportional ? ProcFiles.proportionalPages(of: pid) : ProcFiles.residentPages(of: pid) {
                residentPages += pages
            }
        }
        sampleBackend()
        guard residentPages > 0 else { return }
        counters.sampleResident(residentPages * 4096)
        let unpaged = max(0, residentPages - resident.load(ordering: .relaxed))
        limit.store(max(configuration.budgetBytes / 4096 - unpaged, 2 * batchPages), ordering: .relaxed)
    }

    /// Registers the parts of the process's private anonymous mappings (at least the threshold large) that
    /// are not registered yet, and adopts their present pages as resident (under the process's lock).
    func registerNewMappings(_ process: TrackedProcess, _ g: inout TrackedProcess.Guarded) {
        guard let mappings = ProcFiles.mappings(of: g.pid) else { return }
        for mapping in mappings
        where mapping.isPaged && mapping.end - mapping.start >= UInt64(configuration.thresholdBytes) {
            for gap in g.pages.registered.gaps(in: mapping.start, mapping.end) {
                for part in g.refused.gaps(in: gap.start, gap.end) {
                    let start = UnsafeMutableRawPointer(bitPattern: UInt(part.start))!
                    let length = Int(part.end - part.start)
                    switch Userfaultfd.register(process.uffd, start, length, mode: CUserfaultfd_REGISTER_MODE_MISSING) {
                    case .success:
                        g.pages.registered.insert(part.start, part.end)
                        for page in ProcFiles.presentPages(of: g.pid, part.start, part.end) ?? [] {
                            g.pages.adoptPresent(page)
                        }
                    case .failure:
                        g.refused.insert(part.start, part.end)
                    }
                }
            }
        }
        settle(&g)
    }
}
