// remote-vs-redis: small shared pieces — the error type, the clock, CPU placement, /proc readings.
@_exported import BenchProcess
import CRemoteBench
import TmemSQLiteWorkload

#if canImport(Glibc)
    import Glibc
#endif

/// `strerror` of an errno value, as text.
func errnoText(_ code: Int32) -> String { String(cString: strerror(code)) }

/// The monotonic clock in nanoseconds: the one clock every latency and rate is measured with.
@inline(__always)
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// CPU placement: the servers share one CPU and the load generator has the other, so that neither
/// server gets a CPU the other did not, and the load generator never competes with the server it
/// measures. Children inherit the affinity of the thread that spawns them, so the spawning thread
/// moves to the servers' CPU for the spawn and back afterwards: every thread a server starts, early or
/// late, lands on that CPU (setting a running server's affinity from outside would move only the
/// threads that exist at that moment).
enum CPUPlacement {
    /// The CPU of the servers and that of the load generator, or nil on a single-CPU machine (then
    /// nothing is pinned and the output says so).
    static var plan: (server: Int32, loadGenerator: Int32)? {
        let cpus = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        return cpus >= 2 ? (server: 1, loadGenerator: 0) : nil
    }

    /// Pins the calling thread to one CPU.
    ///
    /// - Throws: `BenchError` if the kernel refuses (a CPU outside this process's cpuset).
    static func pinCurrentThread(to cpu: Int32) throws {
        guard CRemoteBench_pin_to_cpu(cpu) == 0 else {
            throw BenchError("cannot pin to CPU \(cpu): \(errnoText(errno))")
        }
    }

    /// What the output says about placement.
    static var summary: String {
        guard let plan else { return "one CPU online: nothing pinned (servers and load generator share it)" }
        return "both servers pinned to CPU \(plan.server) (sched_setaffinity, inherited by all their threads), "
            + "load generator on CPU \(plan.loadGenerator)"
    }
}

/// A process's resident set size from /proc/PID/status (`VmRSS`), in bytes, or nil if it has gone.
func residentBytes(of pid: pid_t) -> Int? { KernelIO.residentBytes(of: pid) }

/// Reads a whole small file (a log, a secret), or nil if it cannot be opened.
func readSmallFile(_ path: String, limit: Int = 1 << 20) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while bytes.count < limit {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        bytes += chunk[0..<n]
    }
    return bytes
}

/// Two decimals, for tables and JSON.
func fixed2(_ value: Double) -> String { String((value * 100).rounded() / 100) }
