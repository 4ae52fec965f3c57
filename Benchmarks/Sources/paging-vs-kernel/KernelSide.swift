#if canImport(Glibc)
import Glibc
#endif
import BenchProcess
import TmemReplay
import TmemZram

/// Where the kernel's side swaps.
enum KernelSwap {
    /// A zram device (lz4) made for the run with hot_add: the kernel's compressed RAM.
    case zram
    /// A swap file made for the run in this directory on a local disk: what a machine without spare RAM
    /// swaps to.
    case file(directory: String)
}

/// The kernel's side: the same workload in a child process confined to the budget by a cgroup v1 memory
/// controller, swapping to a zram device or a swap file made for the run. Everything made is undone at
/// the end, also on failure: swapoff, the device or file removed, the cgroup removed.
struct KernelSide {
    let spec: RunSpec
    var swap: KernelSwap = .zram

    func run() throws -> SideResult {
        let (regionBytes, budgetBytes, corpusPath, seed) = (spec.regionBytes, spec.budgetBytes, spec.corpusPath, spec.seed)
        guard getuid() == 0 else { throw BenchError("the kernel side needs root (swapon, cgroups, zram)") }
        guard access("/sys/fs/cgroup/memory/cgroup.procs", W_OK) == 0 else {
            throw BenchError("no cgroup v1 memory controller at /sys/fs/cgroup/memory")
        }
        // Room for the whole region, so the swap space never fills.
        let swapBytes = regionBytes + (64 << 20)
        let swapPath: String
        var zram: ZramDevice?
        switch swap {
        case .zram:
            zram = try ZramDevice(algorithm: "lz4", diskSize: swapBytes)
            swapPath = zram!.devicePath
        case .file(let directory):
            swapPath = directory + "/tmem-paging-bench-\(getpid()).swap"
            try makeSwapFile(swapPath, bytes: swapBytes)
        }
        defer {
            zram?.remove()
            if case .file = swap { unlink(swapPath) }
        }
        try runCommand("/usr/sbin/mkswap", [swapPath])
        try runCommand("/usr/sbin/swapon", ["-p", "32767", swapPath])
        defer { _ = try? runCommand("/usr/sbin/swapoff", [swapPath]) }
        let cgroup = "/sys/fs/cgroup/memory/tmem-paging-bench-\(getpid())"
        guard mkdir(cgroup, 0o755) == 0 else { throw BenchError("cannot make \(cgroup): \(String(cString: strerror(errno)))") }
        defer { rmdir(cgroup) }
        try writeFile("\(cgroup)/memory.limit_in_bytes", "\(budgetBytes)")
        try? writeFile("\(cgroup)/memory.swappiness", "100")
        // The child joins the cgroup itself, before it touches the region.
        let output = try runCommand(
            CommandLine.arguments[0],
            [
                "kernel-child", corpusPath, "--region-bytes", "\(regionBytes)", "--seed", "\(seed)", "--cgroup", cgroup,
                "--threads", "\(spec.threads)",
            ],
            capture: true)
        guard let line = output.split(separator: "\n").last, let result = SideResult(line: String(line)) else {
            throw BenchError("the kernel child printed no result: \(output)")
        }
        return result
    }
}

extension SideResult {
    /// `randSeconds randFaults seqSeconds seqFaults mismatches threadedRandSeconds threadedRandFaults`, as
    /// the child prints it.
    init?(line: String) {
        let parts = line.split(separator: " ")
        guard parts.count == 7, let rs = Double(parts[0]), let rf = Int(parts[1]), let ss = Double(parts[2]),
            let sf = Int(parts[3]), let m = Int(parts[4]), let ts = Double(parts[5]), let tf = Int(parts[6])
        else { return nil }
        self.init(
            randSeconds: rs, randFaults: rf, seqSeconds: ss, seqFaults: sf, mismatches: m, threadedRandSeconds: ts,
            threadedRandFaults: tf)
    }

    var line: String {
        "\(randSeconds) \(randFaults) \(seqSeconds) \(seqFaults) \(mismatches) \(threadedRandSeconds) \(threadedRandFaults)"
    }
}

/// The child: joins the cgroup, fills the region (the kernel swaps out what exceeds the limit), then
/// reads it back (then, with `threads` above 1, fills it again and reads it back from that many threads);
/// prints its figures as one line.
func kernelChild(corpusPath: String, regionBytes: Int, seed: UInt64, cgroup: String, threads: Int) throws {
    try writeFile("\(cgroup)/cgroup.procs", "\(getpid())")
    let corpus = try PageCorpus(path: corpusPath)
    let pages = regionBytes / 4096
    let workload = Workload(corpus: corpus, pages: pages, seed: seed)
    guard let base = mmap(nil, regionBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
        base != MAP_FAILED
    else { throw BenchError("mmap of \(regionBytes) bytes failed") }
    // Transparent huge pages would swap in 2 MiB at a time: compare page for page.
    _ = madvise(base, regionBytes, 15 /* MADV_NOHUGEPAGE */)
    workload.fill(base)
    let randomOrder = workload.randomOrder
    let f0 = majorFaults()
    let rand = workload.readBack(base, order: randomOrder)
    let f1 = majorFaults()
    // Push the region out again, so the sequential pass also starts from swap.
    workload.fill(base)
    let f2 = majorFaults()
    let seq = workload.readBack(base, order: workload.sequentialOrder)
    let f3 = majorFaults()
    // Major faults of the whole process (every thread's).
    let threaded = threadedPhase(workload, base: base, threads: threads) { majorFaults() }
    let result = SideResult(
        randSeconds: rand.seconds, randFaults: f1 - f0, seqSeconds: seq.seconds, seqFaults: f3 - f2,
        mismatches: rand.mismatches + seq.mismatches + threaded.mismatches, threadedRandSeconds: threaded.seconds,
        threadedRandFaults: threaded.faults)
    print(result.line)
}

/// A file of `bytes` allocated on disk (no holes: swapon refuses sparse files), mode 0600.
func makeSwapFile(_ path: String, bytes: Int) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw BenchError("cannot create \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    let rc = posix_fallocate(fd, 0, off_t(bytes))
    guard rc == 0 else {
        unlink(path)
        throw BenchError("cannot allocate \(bytes) bytes for \(path): \(String(cString: strerror(rc)))")
    }
}
