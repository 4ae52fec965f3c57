import ArgumentParser
import Tmem
import TmemReplay
import TmemRun
import TmemZcache
#if canImport(Glibc)
import Glibc
#endif

/// `tmem run`: runs an unmodified program with its anonymous memory held to a budget, cold pages
/// compressed (then written to a swap file with no name), faults served in userspace by a monitor that
/// holds the program's userfaultfd (docs/RUN.md). Exits with the program's status, or its signal.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a program with its memory paged through Tmem: tmem run --budget 256MiB -- CMD ARGS...",
        discussion: """
            The program's whole process tree (children and exec'd programs too) is held to the budget: its \
            private anonymous mappings of at least --threshold are paged; the rest (libraries, small \
            mappings, the main stack) counts against the budget but stays resident. Needs a full \
            userfaultfd (root, CAP_SYS_PTRACE, or vm.unprivileged_userfaultfd=1) and Linux 6.8+ (UFFDIO_MOVE).
            """
    )

    @Option(help: "Resident memory of the program's tree: a size or a percent of RAM (default 50%).", transform: parseCapacity)
    var budget: Int = physicalMemoryBytes() / 2
    @Option(help: "Where evicted pages go first: zcache (compressed, default) or ram.") var backend: String = "zcache"
    @Option(help: "The backend's memory limit, a size or a percent of RAM (default 20%, zswap's max_pool_percent).", transform: parseCapacity)
    var capacity: Int = physicalMemoryBytes() / 5
    @Option(help: "The swap file behind the backend (default: a file with no name in TMPDIR or /tmp).") var swapFile: String?
    @Option(help: "Write statistics as JSON lines to this file (with --stats-every; default stderr).") var stats: String?
    @Option(help: "Write statistics every so many seconds.") var statsEvery: Double?
    @Option(help: "Page private anonymous mappings at least this large (default 128KiB).", transform: parseCapacity)
    var threshold: Int = 128 << 10
    @Flag(help: "Behave as a monitor without CAP_SYS_PTRACE: prepare forks by bringing every page back.")
    var noForkEvents = false
    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments (after --).") var command: [String] = []

    func validate() throws {
        guard !command.isEmpty else { throw ValidationError("no command: tmem run [options] -- CMD ARGS...") }
        guard budget >= 1 << 20 else { throw ValidationError("the budget must be at least 1MiB") }
        guard backend == "zcache" || backend == "ram" else { throw ValidationError("--backend is zcache or ram") }
        if let statsEvery { guard statsEvery > 0 else { throw ValidationError("--stats-every must be positive") } }
    }

    func run() throws {
        let arguments = command.first == "--" ? Array(command.dropFirst()) : command
        let kind: BackendKind = backend == "ram" ? .ram : .zcache
        let store = try BackendConfiguration(kind: kind, capacity: capacity).makeBackend()
        let usage: @Sendable () -> (pool: Int, original: Int, compressed: Int) = {
            if let zcache = store as? Zcache {
                let s = zcache.statistics
                return (s.memUsedTotal, s.origDataSize, s.comprDataSize)
            }
            if let ram = store as? RAMPool { return (ram.statistics.usedBytes, 0, 0) }
            return (0, 0, 0)
        }
        let statsFD: Int32
        if let stats {
            statsFD = open(stats, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard statsFD >= 0 else { throw ValidationError("cannot open \(stats): \(describeErrno(errno))") }
        } else {
            statsFD = 2
        }
        defer { if statsFD != 2 { close(statsFD) } }
        let interval = statsEvery.map { seconds in
            (UInt64(seconds * 1e9), { @Sendable (s: RunStatistics) in writeAll(statsFD, Self.jsonLine(s)) })
        }
        let session = try RunSession(
            configuration: RunConfiguration(
                budgetBytes: budget, thresholdBytes: threshold, swapFile: swapFile, forkEvents: !noForkEvents),
            backend: store, backendUsage: usage, preloadLibrary: try Self.preloadLibrary(),
            interval: interval, report: { writeAll(2, $0 + "\n") })
        let started = RunClock.now()
        let outcome = try session.run(arguments)
        let seconds = RunClock.now() - started
        if statsEvery != nil { writeAll(statsFD, Self.jsonLine(outcome.statistics)) }
        writeAll(2, Self.report(outcome, seconds: seconds))
        if let signal = outcome.signal {
            Glibc.signal(signal, SIG_DFL)
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, signal)
            pthread_sigmask(SIG_UNBLOCK, &set, nil)
            raise(signal)
            throw ExitCode(128 + signal)
        }
        if let status = outcome.exitStatus, status != 0 { throw ExitCode(status) }
    }

    /// libTmemRunPreload.so: $TMEM_RUN_PRELOAD, else next to this executable (where `swift build` puts it).
    static func preloadLibrary() throws -> String {
        if let given = environmentValue("TMEM_RUN_PRELOAD") { return given }
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { throw ValidationError("cannot find this executable (/proc/self/exe)") }
        let executable = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let directory = executable.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let library = "\(directory)/libTmemRunPreload.so"
        guard access(library, R_OK) == 0 else {
            throw ValidationError("cannot find \(library): build it with `swift build` (product TmemRunPreload) or set TMEM_RUN_PRELOAD")
        }
        return library
    }

    /// One JSON object on one line.
    static func jsonLine(_ s: RunStatistics) -> String {
        let fields = s.namedValues.map { key, value in
            value == value.rounded() && abs(value) < 1e15 ? "\"\(key)\":\(Int(value))" : "\"\(key)\":\((value * 1000).rounded() / 1000)"
        }
        return "{" + fields.joined(separator: ",") + "}\n"
    }

    /// The report printed to stderr when the program has ended.
    static func report(_ outcome: RunOutcome, seconds: Double) -> String {
        let s = outcome.statistics
        let ending = outcome.signal.map { "killed by signal \($0)" } ?? "exit \(outcome.exitStatus ?? -1)"
        func mib(_ bytes: Int) -> String { formatByteCount(bytes) }
        func us(_ ns: UInt64) -> String { format1(Double(ns) / 1000) + " us" }
        return """
            tmem run: \(ending) after \(format1(seconds)) s; budget \(mib(s.budgetBytes)): peak RSS \(mib(s.peakResidentBytes)), \
            mean \(mib(s.meanResidentBytes)) (\(s.residentSamples) samples)
              faults \(s.faults): \(s.zeroFills) zero-filled, \(s.memoryLoads) from memory, \(s.diskLoads) from disk (\(s.readaheadPages) read ahead); \
            service p50 \(us(s.faultP50Nanoseconds)), p99 \(us(s.faultP99Nanoseconds)); waited \(s.waitsForEviction) for an \
            eviction, \(s.directReclaims) for room (direct reclaims), \(s.budgetOverruns) served over budget
              evictions \(s.evictions) in \(s.batches) batches (\(s.evictionsToDisk) to disk, \(s.evictionsRefused) refused \
            by the kernel, clean ones skipped: 0, every eviction stores); compression \(format1(s.compressionRatio))x, \
            pool peak \(mib(s.poolBytes)); disk \(s.diskReads) pages read, \(s.diskWrites) written
              processes \(s.processes) (\(s.forks) forks, \(s.execs) execs); \(s.droppedPages) pages dropped by the program, \
            \(s.remaps) remaps

            """
    }
}

/// Seconds on the monotonic clock.
enum RunClock {
    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }
}

private func writeAll(_ fd: Int32, _ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { return }
        offset += n
    }
}
