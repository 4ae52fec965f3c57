#if canImport(Glibc)
import Glibc
#endif
import BenchProcess
import TmemRunWorkloads
import TmemZram

/// What one run of a program gave.
struct SideResult {
    var wallSeconds: Double
    var peakResidentBytes: Int
    /// Faults served from swap: the kernel's major faults in the cgroup, or `tmem run`'s faults served
    /// from its store (memory and disk).
    var majorFaults: Int
    var end: ProgramEnd
    var identical: Bool
    var timedOut = false
    /// The kernel's side only: killed by the memory cgroup's OOM killer.
    var oomKilled = false
    /// The kernel's side: memory.max_usage_in_bytes (page cache included); `tmem run`: its pool's peak.
    var extraBytes = 0
}

/// `tmem run --budget B -- program`, its tree's memory sampled as the tests sample it.
func runUnderTmem(_ program: Program, tmem: String, budget: Int, reference: [UInt8], directory: String) throws -> SideResult {
    let stats = directory + "/\(program.name).stats"
    let run = try runSampled(
        [tmem, "run", "--budget", "\(budget)", "--stats", stats, "--stats-every", "1", "--"] + program.arguments,
        environment: [], outputs: directory + "/\(program.name).tmem", belowRoot: true, exactAbove: budget)
    let last = (try? readAll(stats)).flatMap { String(decoding: $0, as: UTF8.self).split(separator: "\n").last } ?? ""
    let figures = statisticsNumbers(last)
    if run.end != .exited(0) { print("run-vs-kernel: \(program.name) under tmem run: \(run.end): \(run.errors.suffix(1500))") }
    return SideResult(
        wallSeconds: run.seconds, peakResidentBytes: run.peakResidentBytes,
        majorFaults: Int((figures["faults_memory"] ?? 0) + (figures["faults_disk"] ?? 0)), end: run.end,
        identical: run.output == reference, extraBytes: Int(figures["pool_bytes"] ?? 0))
}

/// The kernel's side: the program in a cgroup v1 memory cgroup limited to `budget` (swappiness 100),
/// swapping to a zram device (lz4) made for the run. The device, the swap and the cgroup are undone at the
/// end, also on failure.
struct KernelSwap {
    let zram: ZramDevice

    init(bytes: Int) throws {
        guard getuid() == 0 else { throw BenchError("the kernel side needs root (swapon, cgroups, zram)") }
        guard access("/sys/fs/cgroup/memory/cgroup.procs", W_OK) == 0 else {
            throw BenchError("no cgroup v1 memory controller at /sys/fs/cgroup/memory")
        }
        do { zram = try ZramDevice(algorithm: "lz4", diskSize: bytes) } catch { throw BenchError("zram: \(error)") }
        do {
            try runCommand("/usr/sbin/mkswap", [zram.devicePath], capture: true)
            try runCommand("/usr/sbin/swapon", ["-p", "32767", zram.devicePath])
        } catch {
            _ = zram.remove()
            throw error
        }
    }

    func close() {
        _ = try? runCommand("/usr/sbin/swapoff", [zram.devicePath])
        _ = zram.remove()
    }

    func run(_ program: Program, budget: Int, reference: [UInt8], directory: String, timeLimit: Double) throws -> SideResult {
        let cgroup = "/sys/fs/cgroup/memory/tmem-run-vs-kernel-\(getpid())-\(program.name)"
        guard mkdir(cgroup, 0o755) == 0 else { throw BenchError("cannot make \(cgroup): \(String(cString: strerror(errno)))") }
        defer { rmdir(cgroup) }
        try writeFile("\(cgroup)/memory.limit_in_bytes", "\(budget)")
        try? writeFile("\(cgroup)/memory.swappiness", "100")
        // The shell joins the cgroup, then becomes the program: nothing of it runs outside the limit.
        let join = ["/bin/sh", "-c", "echo $$ > \(cgroup)/cgroup.procs && exec \"$@\"", "sh"]
        let run = try runSampled(
            join + program.arguments, environment: [], outputs: directory + "/\(program.name).kernel", exactAbove: budget,
            timeLimit: timeLimit)
        let stat = cgroupFile(cgroup, "memory.stat")
        let oom = cgroupFile(cgroup, "memory.oom_control")
        let usage = Int(cgroupFile(cgroup, "memory.max_usage_in_bytes").split(separator: "\n").first ?? "") ?? 0
        return SideResult(
            wallSeconds: run.seconds, peakResidentBytes: run.peakResidentBytes,
            majorFaults: field(stat, "total_pgmajfault") ?? field(stat, "pgmajfault") ?? 0, end: run.end,
            identical: run.output == reference, timedOut: run.timedOut, oomKilled: (field(oom, "oom_kill") ?? 0) > 0,
            extraBytes: usage)
    }
}

private func cgroupFile(_ cgroup: String, _ name: String) -> String {
    (try? readAll("\(cgroup)/\(name)")).map { String(decoding: $0, as: UTF8.self) } ?? ""
}

/// The number after `name ` on a line of a cgroup's key-value file.
private func field(_ text: String, _ name: String) -> Int? {
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: " ")
        if parts.count == 2, parts[0] == name { return Int(parts[1]) }
    }
    return nil
}
