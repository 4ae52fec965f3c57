import BenchProcess
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
        subcommands: [Compare.self, RoundTrip.self, KernelChild.self],
        defaultSubcommand: Compare.self
    )
}

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        discussion: """
            Tmem's userfaultfd paging over Zcache against the kernel's swap on zram. With --host, also Tmem's \
            paging through a tmemd it starts on a Unix socket (no local compressed tier: every page comes back \
            from the host) against the kernel swapping to a swap file on the local disk (--swap-dir).
            """)

    @Argument(help: "The page corpus (raw or .zst), e.g. ../../shared/corpus/dev-pages.bin.zst.") var corpus: String
    @Option(name: .customLong("region-mib"), help: "Region size in MiB.") var regionMiB = 1024
    @Option(name: .customLong("budget-mib"), help: "Resident budget in MiB.") var budgetMiB = 256
    @Option(help: "Seed of the random order.") var seed: UInt64 = 1
    @Flag(help: "Also page through a tmemd host and compare with the kernel swapping to a swap file on disk.")
    var host = false
    @Option(help: "The tmemd binary for --host (default: ../.build/release/tmemd of the Benchmarks folder).")
    var tmemd = "../.build/release/tmemd"
    @Option(name: .customLong("swap-dir"), help: "Directory on a local disk for the kernel's swap file with --host.")
    var swapDirectory = "/var/tmp"
    @Flag(name: .customLong("raw-pages"), help: "With --host, send pages uncompressed (default: LZ4 on the client).")
    var rawPages = false
    @Flag(name: .customLong("host-only"), help: "With --host, skip the Zcache-vs-zram pair.")
    var hostOnly = false
    @Option(help: "After the one-thread runs, the random readback again from this many threads on both sides (Zcache vs zram).")
    var threads = 1

    func run() throws {
        let region = regionMiB << 20
        let budget = budgetMiB << 20
        print("paging-vs-kernel: \(regionMiB) MiB region, \(budgetMiB) MiB resident, pages from \(corpus)")
        if host { guard access(tmemd, X_OK) == 0 else { throw BenchError("no tmemd at \(tmemd): `swift build -c release` in the root, or --tmemd PATH") } }
        guard threads >= 1 else { throw BenchError("--threads must be at least 1") }
        let spec = RunSpec(regionBytes: region, budgetBytes: budget, corpusPath: corpus, seed: seed, threads: threads)
        var results: [(String, String, SideResult, SideResult)] = []
        var json: [(String, String)] = []
        if !(host && hostOnly) {
            let tmem = try TmemSide(spec: spec).run()
            let kernel = try KernelSide(spec: spec).run()
            results.append(("zcache", "zram", tmem, kernel))
                json += [
                ("tmem_rand_us_per_fault", fmt(tmem.randMicrosPerFault)), ("kernel_rand_us_per_fault", fmt(kernel.randMicrosPerFault)),
                ("tmem_seq_us_per_fault", fmt(tmem.seqMicrosPerFault)), ("kernel_seq_us_per_fault", fmt(kernel.seqMicrosPerFault)),
                ("tmem_rand_faults", "\(tmem.randFaults)"), ("kernel_rand_faults", "\(kernel.randFaults)"),
            ("tmem_seq_faults", "\(tmem.seqFaults)"), ("kernel_seq_faults", "\(kernel.seqFaults)"),
            ("direct_reclaims", "\(tmem.directReclaims)"),
            ]
            if threads > 1 {
                json += [
                    ("tmem_rand_faults_per_s", fmt(tmem.randFaultsPerSecond)),
                    ("kernel_rand_faults_per_s", fmt(kernel.randFaultsPerSecond)),
                    ("tmem_rand_faults_per_s_\(threads)t", fmt(tmem.threadedRandFaultsPerSecond)),
                    ("kernel_rand_faults_per_s_\(threads)t", fmt(kernel.threadedRandFaultsPerSecond)),
                ]
            }
        }
        if host {
            let viaHost = try HostSide(spec: spec, tmemd: tmemd, clientCompression: !rawPages).run()
            let disk = try KernelSide(spec: spec, swap: .file(directory: swapDirectory)).run()
            results.append(("tmemd host", "disk swap file", viaHost, disk))
            json += [
                ("tmem_host_rand_us_per_fault", fmt(viaHost.randMicrosPerFault)),
                ("kernel_disk_rand_us_per_fault", fmt(disk.randMicrosPerFault)),
                ("tmem_host_seq_us_per_fault", fmt(viaHost.seqMicrosPerFault)),
                ("kernel_disk_seq_us_per_fault", fmt(disk.seqMicrosPerFault)),
                ("tmem_host_rand_faults", "\(viaHost.randFaults)"), ("kernel_disk_rand_faults", "\(disk.randFaults)"),
            ]
        }
        func row(_ name: String, _ t: Double, _ k: Double, _ tf: Int, _ kf: Int) {
            let ratio = k > 0 ? (t / k * 100).rounded() / 100 : 0
            print(name + String(repeating: " ", count: max(1, 27 - name.count)) + "tmem \(fmt(t)) us (\(tf) faults)   "
                + "kernel \(fmt(k)) us (\(kf) faults)   tmem/kernel \(ratio)x")
        }
        var mismatches = 0
        for (tmemName, kernelName, t, k) in results {
            print("tmem over \(tmemName), kernel over \(kernelName):")
            row("  random readback, us/fault", t.randMicrosPerFault, k.randMicrosPerFault, t.randFaults, k.randFaults)
            row("  sequential readback", t.seqMicrosPerFault, k.seqMicrosPerFault, t.seqFaults, k.seqFaults)
            if t.threadedRandSeconds > 0 {
                let tr = t.threadedRandFaultsPerSecond, kr = k.threadedRandFaultsPerSecond
                print("  random readback, \(threads) threads: tmem \(Int(tr)) faults/s (\(fmt(tr / t.randFaultsPerSecond))x its 1-thread)   "
                    + "kernel \(Int(kr)) faults/s (\(fmt(kr / k.randFaultsPerSecond))x)   tmem/kernel \(fmt(tr / kr))x")
            }
            if t.mismatches + k.mismatches > 0 { print("  PAGES DIFFER: tmem \(t.mismatches), kernel \(k.mismatches)") }
            mismatches += t.mismatches + k.mismatches
        }
        json.append(("mismatches", "\(mismatches)"))
        print("{" + json.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}")
        if mismatches > 0 { throw ExitCode.failure }
    }
}

/// The kernel side's child process (run by `compare`, not by hand).
struct KernelChild: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kernel-child", shouldDisplay: false)

    @Argument var corpus: String
    @Option var regionBytes: Int
    @Option var seed: UInt64
    @Option var cgroup: String
    @Option var threads = 1

    func run() throws {
        try kernelChild(corpusPath: corpus, regionBytes: regionBytes, seed: seed, cgroup: cgroup, threads: threads)
    }
}

func fmt(_ v: Double) -> String { String((v * 100).rounded() / 100) }
