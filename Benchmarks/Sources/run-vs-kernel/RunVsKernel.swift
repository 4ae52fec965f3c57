import ArgumentParser
import BenchProcess
#if canImport(Glibc)
import Glibc
#endif
import TmemRunWorkloads

/// Unmodified programs under `tmem run --budget B` against the same programs in a memory cgroup limited
/// to B with the kernel's swap on zram (lz4): wall time, faults served from swap, peak memory. B is a
/// quarter of the program's unpaged peak. Run as root; it cleans up after itself.
@main
struct RunVsKernel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run-vs-kernel",
        abstract: "tmem run vs the kernel's memory cgroup with zram swap, at a quarter of each program's peak.",
        discussion: """
            Each program runs unpaged first (its output is the reference, its peak sets the budget), then \
            under `tmem run --budget B`, then in a cgroup v1 memory cgroup limited to B swapping to a zram \
            device made for the run. Memory is the tree's resident memory sampled every 2 ms (proportional \
            sizes above the budget, so pages a forked child shares count once). The last line is JSON.
            """)

    @Option(help: "The tmem executable (build it first: `swift build -c release` in the root).")
    var tmem = "../.build/release/tmem"
    @Option(help: "Programs to run, comma-separated (python, python-threads, sort, sqlite3, perl-hash).")
    var only: String?
    @Option(help: "The budget as a fraction of the unpaged peak: budget = peak / this.") var divisor = 4
    @Option(name: .customLong("kernel-time-limit"), help: "Seconds after which the kernel's run is killed (thrashing).")
    var kernelTimeLimit = 300.0

    func run() throws {
        guard access(tmem, X_OK) == 0 else { throw BenchError("no tmem at \(tmem): `swift build -c release` in the root, or --tmem PATH") }
        let scratch = "/tmp/tmem-run-vs-kernel-\(getpid())"
        guard mkdir(scratch, 0o700) == 0 else { throw BenchError("cannot make \(scratch)") }
        defer { _ = try? runCommand("/bin/rm", ["-rf", scratch]) }
        let list = try programs(in: scratch, only: only.map { Set($0.split(separator: ",").map(String.init)) })
        guard !list.isEmpty else { throw BenchError("no program to run") }
        let swap = try KernelSwap(bytes: 2 << 30)
        defer { swap.close() }
        var rows: [Row] = []
        for program in list {
            let plain = try runSampled(program.arguments, environment: [], outputs: scratch + "/\(program.name).plain")
            guard plain.end == .exited(0) else { throw BenchError("\(program.name) failed unpaged: \(plain.errors.suffix(1000))") }
            let budget = max((plain.peakResidentBytes / divisor) >> 20, 8) << 20
            print("\(program.name): unpaged peak \(mib(plain.peakResidentBytes)) MiB in \(fmt(plain.seconds)) s; budget \(budget >> 20) MiB")
            let tmemSide = try runUnderTmem(program, tmem: tmem, budget: budget, reference: plain.output, directory: scratch)
            let kernelSide = try swap.run(
                program, budget: budget, reference: plain.output, directory: scratch, timeLimit: kernelTimeLimit)
            let row = Row(program: program.name, budget: budget, plain: plain, tmem: tmemSide, kernel: kernelSide)
            print(row.text)
            rows.append(row)
        }
        print("{\"workloads\": [" + rows.map(\.json).joined(separator: ", ") + "]}")
        if rows.contains(where: { !$0.tmem.identical || $0.tmem.end != .exited(0) }) { throw ExitCode.failure }
    }
}

/// One program's three runs.
struct Row {
    var program: String
    var budget: Int
    var plain: SampledRun
    var tmem: SideResult
    var kernel: SideResult

    var kernelCompleted: Bool { kernel.end == .exited(0) && !kernel.timedOut }
    var kernelOOM: Bool { kernel.oomKilled || (kernel.end == .signalled(SIGKILL) && !kernel.timedOut) }

    var text: String {
        let kernelState = kernelCompleted
            ? "\(fmt(kernel.wallSeconds)) s, \(kernel.majorFaults) major faults, peak \(mib(kernel.peakResidentBytes)) MiB"
            : kernelOOM ? "OOM-killed after \(fmt(kernel.wallSeconds)) s" : kernel.timedOut ? "killed at the time limit (\(fmt(kernel.wallSeconds)) s)" : "\(kernel.end)"
        let ratio = kernelCompleted ? "   tmem/kernel \(fmt(tmem.wallSeconds / kernel.wallSeconds))x" : ""
        return """
              tmem run     \(fmt(tmem.wallSeconds)) s, \(tmem.majorFaults) faults from the store, peak \(mib(tmem.peakResidentBytes)) MiB\
             (pool \(mib(tmem.extraBytes)) MiB), output \(tmem.identical ? "identical" : "DIFFERS")
              kernel       \(kernelState)\(kernelCompleted ? ", output \(kernel.identical ? "identical" : "DIFFERS")" : "")\(ratio)
            """
    }

    var json: String {
        let fields: [(String, String)] = [
            ("name", "\"\(program)\""), ("budget_bytes", "\(budget)"), ("unpaged_peak_rss_bytes", "\(plain.peakResidentBytes)"),
            ("unpaged_wall_s", fmt(plain.seconds)),
            ("tmem_wall_s", fmt(tmem.wallSeconds)), ("tmem_peak_rss_bytes", "\(tmem.peakResidentBytes)"),
            ("tmem_store_faults", "\(tmem.majorFaults)"), ("tmem_pool_bytes", "\(tmem.extraBytes)"),
            ("tmem_output_identical", "\(tmem.identical)"),
            ("kernel_wall_s", fmt(kernel.wallSeconds)), ("kernel_oom", "\(kernelOOM)"), ("kernel_timed_out", "\(kernel.timedOut)"),
            ("kernel_major_faults", "\(kernel.majorFaults)"), ("kernel_peak_rss_bytes", "\(kernel.peakResidentBytes)"),
            ("kernel_max_usage_bytes", "\(kernel.extraBytes)"),
            ("kernel_output_identical", "\(kernelCompleted && kernel.identical)"),
            ("tmem_over_kernel_wall", kernelCompleted ? fmt(tmem.wallSeconds / kernel.wallSeconds) : "null"),
        ]
        return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
    }
}

func fmt(_ v: Double) -> String { String((v * 100).rounded() / 100) }
func mib(_ bytes: Int) -> String { fmt(Double(bytes) / 1048576) }
