import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

/// Microseconds per major fault: Tmem's userfaultfd paging against the kernel's own swap on zram, with
/// the same region, budget, pages and access pattern. Run as root; it cleans up after itself.
@main
struct PagingVsKernel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "paging-vs-kernel",
        abstract: "Tmem paging vs the kernel's swap on zram: microseconds per major fault, side by side.",
        subcommands: [Compare.self, KernelChild.self],
        defaultSubcommand: Compare.self
    )
}

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "compare")

    @Argument(help: "The page corpus (raw or .zst), e.g. ../../shared/corpus/dev-pages.bin.zst.") var corpus: String
    @Option(name: .customLong("region-mib"), help: "Region size in MiB.") var regionMiB = 1024
    @Option(name: .customLong("budget-mib"), help: "Resident budget in MiB.") var budgetMiB = 256
    @Option(help: "Seed of the random order.") var seed: UInt64 = 1

    func run() throws {
        let region = regionMiB << 20
        let budget = budgetMiB << 20
        print("paging-vs-kernel: \(regionMiB) MiB region, \(budgetMiB) MiB resident, pages from \(corpus)")
        let spec = RunSpec(regionBytes: region, budgetBytes: budget, corpusPath: corpus, seed: seed)
        let tmem = try TmemSide(spec: spec).run()
        let kernel = try KernelSide(spec: spec).run()
        func row(_ name: String, _ t: Double, _ k: Double, _ tf: Int, _ kf: Int) {
            let ratio = k > 0 ? (t / k * 100).rounded() / 100 : 0
            print(name + String(repeating: " ", count: max(1, 27 - name.count)) + "tmem \(fmt(t)) us (\(tf) faults)   "
                + "kernel \(fmt(k)) us (\(kf) faults)   tmem/kernel \(ratio)x")
        }
        row("random readback, us/fault", tmem.randMicrosPerFault, kernel.randMicrosPerFault, tmem.randFaults, kernel.randFaults)
        row("sequential readback", tmem.seqMicrosPerFault, kernel.seqMicrosPerFault, tmem.seqFaults, kernel.seqFaults)
        if tmem.mismatches + kernel.mismatches > 0 {
            print("PAGES DIFFER: tmem \(tmem.mismatches), kernel \(kernel.mismatches)")
        }
        print("{\"tmem_rand_us_per_fault\": \(fmt(tmem.randMicrosPerFault)), \"kernel_rand_us_per_fault\": \(fmt(kernel.randMicrosPerFault)), "
            + "\"tmem_seq_us_per_fault\": \(fmt(tmem.seqMicrosPerFault)), \"kernel_seq_us_per_fault\": \(fmt(kernel.seqMicrosPerFault)), "
            + "\"tmem_rand_faults\": \(tmem.randFaults), \"kernel_rand_faults\": \(kernel.randFaults), "
            + "\"tmem_seq_faults\": \(tmem.seqFaults), \"kernel_seq_faults\": \(kernel.seqFaults), "
            + "\"mismatches\": \(tmem.mismatches + kernel.mismatches)}")
        if tmem.mismatches + kernel.mismatches > 0 { throw ExitCode.failure }
    }
}

/// The kernel side's child process (run by `compare`, not by hand).
struct KernelChild: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kernel-child", shouldDisplay: false)

    @Argument var corpus: String
    @Option var regionBytes: Int
    @Option var seed: UInt64
    @Option var cgroup: String

    func run() throws {
        try kernelChild(corpusPath: corpus, regionBytes: regionBytes, seed: seed, cgroup: cgroup)
    }
}

func fmt(_ v: Double) -> String { String((v * 100).rounded() / 100) }
