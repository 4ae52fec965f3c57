#if canImport(Glibc)
import BenchProcess
import Glibc
#endif
import Tmem
import TmemPaging
import TmemRemote
import TmemReplay
import TmemWire

/// Tmem's side through a host: the same workload in a paged region with the same budget, whose backend is
/// a ``RemoteBackend`` to a `tmemd` this side starts on a Unix socket in a scratch directory (no local
/// compressed tier, so every page brought back comes from the host). Counted as ``TmemSide`` counts.
struct HostSide {
    let spec: RunSpec
    /// The tmemd binary.
    let tmemd: String
    /// LZ4 on the client before the wire (the remote backend's default) or raw pages.
    let clientCompression: Bool

    func run() throws -> SideResult {
        let corpus = try PageCorpus(path: spec.corpusPath)
        let daemon = try Tmemd(binary: tmemd, capacityBytes: spec.regionBytes + (256 << 20))
        defer { daemon.stop() }
        let backend = try daemon.connect(compressPages: clientCompression)
        defer { backend.close() }
        var configuration = PagedRegion.Configuration(residentBudget: spec.budgetBytes)
        configuration.colocation = .pinFaultingThread
        let region = try PagedRegion(size: spec.regionBytes, backend: backend, configuration: configuration)
        let workload = Workload(corpus: corpus, pages: spec.regionBytes / 4096, seed: spec.seed)
        let result = region.withUnsafeMutableBytes { memory in measure(workload, base: memory.baseAddress!, region: region) }
        _ = region.close()
        let refused = backend.statistic("refused_by_host") + backend.statistic("refused_unreachable")
        if refused > 0 { print("  note: \(refused) puts were refused (those pages went to the client's swap file)") }
        return result
    }
}

/// Fill, random readback, fill, sequential readback (then, with `threads` above 1, fill and random
/// readback from that many threads), counting what each readback brought back.
func measure(_ workload: Workload, base: UnsafeMutableRawPointer, region: borrowing PagedRegion, threads: Int = 1) -> SideResult {
    workload.fill(base)
    let f0 = broughtBack(region.statistics)
    let rand = workload.readBack(base, order: workload.randomOrder)
    let f1 = broughtBack(region.statistics)
    workload.fill(base)
    let f2 = broughtBack(region.statistics)
    let seq = workload.readBack(base, order: workload.sequentialOrder)
    let f3 = broughtBack(region.statistics)
    let threaded = threadedPhase(workload, base: base, threads: threads) { broughtBack(region.statistics) }
    return SideResult(
        randSeconds: rand.seconds, randFaults: f1 - f0, seqSeconds: seq.seconds, seqFaults: f3 - f2,
        mismatches: rand.mismatches + seq.mismatches + threaded.mismatches,
        threadedRandSeconds: threaded.seconds, threadedRandFaults: threaded.faults,
        directReclaims: region.statistics.directReclaims)
}

/// A `tmemd` child on a Unix socket in its own scratch directory, with its output in a log there.
/// `stop()` (SIGTERM, then SIGKILL) reaps it and removes the directory; it is idempotent.
final class Tmemd {
    let pid: pid_t
    let directory: String
    var socketPath: String { directory + "/tmemd.sock" }
    var logPath: String { directory + "/tmemd.log" }
    private var reaped = false

    init(binary: String, capacityBytes: Int) throws {
        var template = Array("/tmp/tmem-paging-host-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw BenchError("mkdtemp: \(String(cString: strerror(errno)))") }
        directory = String(cString: made)
        let arguments = [
            "--unix", directory + "/tmemd.sock", "--capacity", "\(capacityBytes)", "--secret-file",
            directory + "/secret", "--log-level", "warning",
        ]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, directory + "/tmemd.log", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([binary] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var child = pid_t()
        let rc = posix_spawn(&child, binary, &actions, nil, argv, environ)
        guard rc == 0 else {
            rmdir(directory)
            throw BenchError("cannot run \(binary): \(String(cString: strerror(rc)))")
        }
        pid = child
    }

    deinit { stop() }

    /// A remote backend on the socket, retried until tmemd answers (at most 10 s).
    func connect(compressPages: Bool) throws -> RemoteBackend {
        let deadline = monotonicNanoseconds() + 10_000_000_000
        while true {
            do {
                return try RemoteBackend(configuration: RemoteConfiguration(
                    address: .unix(path: socketPath), name: "paging-vs-kernel", compressPages: compressPages))
            } catch {
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid {
                    reaped = true
                    throw BenchError("tmemd exited (status \(status)) before answering: \(logTail())")
                }
                guard monotonicNanoseconds() < deadline else { throw BenchError("tmemd did not answer in 10 s: \(error)") }
                usleep(20_000)
            }
        }
    }

    func stop() {
        if !reaped {
            kill(pid, SIGTERM)
            var status: Int32 = 0
            let deadline = monotonicNanoseconds() + 5_000_000_000
            while waitpid(pid, &status, WNOHANG) == 0 {
                if monotonicNanoseconds() > deadline { kill(pid, SIGKILL); waitpid(pid, &status, 0); break }
                usleep(10_000)
            }
            reaped = true
        }
        for file in ["tmemd.sock", "tmemd.log", "secret"] { unlink(directory + "/" + file) }
        rmdir(directory)
    }

    private func logTail() -> String {
        let fd = open(logPath, O_RDONLY)
        guard fd >= 0 else { return "(no log)" }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 4096)
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, 4096) }
        return String(decoding: bytes.prefix(max(0, n)), as: UTF8.self)
    }
}
