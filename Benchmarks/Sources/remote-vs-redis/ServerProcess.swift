// remote-vs-redis: one child server process — spawned with its output in a log file, watched, stopped —
// and the emergency cleanup that a signal (Ctrl-C, SIGTERM) runs so that nothing is left behind.
#if canImport(Glibc)
    import Glibc
#endif

/// A server the benchmark started. `stop()` ends it (SIGTERM, then SIGKILL) and reaps it; it is also
/// called from `deinit`, so a thrown error never leaves a server running.
final class ServerProcess {
    let name: String
    let pid: pid_t
    let logPath: String
    private var status: Int32?

    /// Spawns `path arguments…` with stdin from /dev/null and stdout and stderr into `logPath`.
    ///
    /// - Throws: `BenchError` if the program cannot be run.
    init(name: String, path: String, arguments: [String], logPath: String) throws {
        self.name = name
        self.logPath = logPath
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var child = pid_t()
        let rc = posix_spawn(&child, path, &actions, nil, argv, environ)
        guard rc == 0 else { throw BenchError("cannot run \(path): \(errnoText(rc))") }
        pid = child
        EmergencyCleanup.register(pid: child)
    }

    deinit { stop() }

    /// Whether the process has ended (reaping it if so).
    var hasExited: Bool {
        if status != nil { return true }
        var raw: Int32 = 0
        if waitpid(pid, &raw, WNOHANG) == pid { status = raw; EmergencyCleanup.unregister(pid: pid) }
        return status != nil
    }

    /// "exited with status N", "was killed by signal N", or "is running".
    var exitDescription: String {
        guard hasExited, let raw = status else { return "is running" }
        let signal = raw & 0x7F
        return signal == 0 ? "exited with status \((raw >> 8) & 0xFF)" : "was killed by signal \(signal)"
    }

    /// The last `lines` lines of the server's output.
    func logTail(lines: Int = 20) -> String {
        guard let bytes = readSmallFile(logPath) else { return "(no output: \(logPath) cannot be read)" }
        let text = String(decoding: bytes, as: UTF8.self)
        let tail = text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines + 1)
        let joined = tail.joined(separator: "\n").trimmingSuffix()
        return joined.isEmpty ? "(no output)" : joined
    }

    /// An error naming the server, what went wrong, its state and its output: what the operator needs.
    /// A connection reset usually means the server is dying, so this first gives it half a second to
    /// be reaped, and then says how it ended.
    func failure(_ what: String) -> BenchError {
        let deadline = monotonicNanos() + 500_000_000
        while !hasExited && monotonicNanos() < deadline { usleep(5_000) }
        return BenchError("\(name) (pid \(pid)): \(what); it \(exitDescription). Its output:\n\(logTail())")
    }

    /// Ends the server: SIGTERM, up to 5 s for it to exit, then SIGKILL. Idempotent.
    func stop() {
        guard !hasExited else { return }
        kill(pid, SIGTERM)
        let deadline = monotonicNanos() + 5_000_000_000
        while !hasExited && monotonicNanos() < deadline { usleep(10_000) }
        if !hasExited {
            kill(pid, SIGKILL)
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
            status = raw
            EmergencyCleanup.unregister(pid: pid)
        }
    }
}

extension String {
    fileprivate func trimmingSuffix() -> String {
        var s = Substring(self)
        while let last = s.last, last.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}

/// What a fatal signal must undo: the servers' pids and the scratch directory's files.
///
/// Implementation Notes: the signal handler may only make async-signal-safe calls (`kill`, `unlink`,
/// `rmdir`, `_exit`) and must not allocate or touch Swift arrays, so the registry is fixed-size C
/// storage, written only by the main thread outside the handler. This is the benchmark's one global.
enum EmergencyCleanup {
    private static let slots = 8
    // Written by the main thread only; the handler reads them. Entries are plain words, so a handler
    // that interrupts a write sees the old or the new value, both of which are safe to act on.
    nonisolated(unsafe) private static let pids = UnsafeMutablePointer<pid_t>.allocate(capacity: slots)
    nonisolated(unsafe) private static let paths = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(
        capacity: slots)
    nonisolated(unsafe) private static var directory: UnsafeMutablePointer<CChar>?

    /// Clears the registry and installs the handler for SIGINT, SIGTERM and SIGHUP; ignores SIGPIPE, so
    /// a write to a server that died returns EPIPE instead of killing the benchmark.
    static func install() {
        pids.initialize(repeating: 0, count: slots)
        paths.initialize(repeating: nil, count: slots)
        signal(SIGPIPE, SIG_IGN)
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig) { sig in
                EmergencyCleanup.runFromSignal()
                signal(sig, SIG_DFL)
                raise(sig)
            }
        }
    }

    static func register(pid: pid_t) {
        for i in 0..<slots where pids[i] == 0 { pids[i] = pid; return }
    }

    static func unregister(pid: pid_t) {
        for i in 0..<slots where pids[i] == pid { pids[i] = 0 }
    }

    /// Records the scratch directory and the files in it that must go.
    static func register(directory path: String, files: [String]) {
        directory = strdup(path)
        for (i, file) in files.prefix(slots).enumerated() { paths[i] = strdup(file) }
    }

    static func unregisterDirectory() {
        directory = nil
        for i in 0..<slots { paths[i] = nil }
    }

    private static func runFromSignal() {
        for i in 0..<slots where pids[i] > 0 { kill(pids[i], SIGKILL) }
        for i in 0..<slots { if let p = paths[i] { unlink(p) } }
        if let d = directory { rmdir(d) }
    }
}
