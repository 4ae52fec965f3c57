#if canImport(Glibc)
import Glibc
#endif
import Tmem

/// One client process of `tmem host-demo`, as its parent sees it: a pipe to its standard input (closed
/// to tell it to finish), a pipe from its standard output (its lines), and its pid until reaped.
///
/// The child is spawned with an empty signal mask and default dispositions (the parent blocks SIGINT and
/// SIGTERM into a signalfd, and a child must not inherit that), in a process group of its own (a Ctrl-C
/// at the terminal reaches only the parent, which then kills its children itself), and with nothing of
/// the parent's but the two pipes and standard error. Not thread-safe: the demo's one loop owns it.
final class DemoChild {
    /// The client's name at the host.
    let name: String
    let pid: pid_t
    /// The write end of the child's standard input; -1 once closed.
    private(set) var input: Int32
    /// The read end of the child's standard output; -1 once it ended.
    private(set) var output: Int32
    private var pending: [UInt8] = []
    /// The wait status once reaped.
    private(set) var waitStatus: Int32?

    /// Starts `executable arguments`.
    ///
    /// - Parameters:
    ///   - name: The client's name, for the parent's messages.
    ///   - executable: An absolute path.
    ///   - arguments: Its arguments (without the program name).
    /// - Throws: `Errno` when the pipes cannot be made or the process not spawned.
    init(name: String, executable: String, arguments: [String]) throws(Errno) {
        self.name = name
        let toChild = try ProcessCalls.pipe()
        let fromChild: (read: Int32, write: Int32)
        do throws(Errno) { fromChild = try ProcessCalls.pipe() } catch {
            close(toChild.read)
            close(toChild.write)
            throw error
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // dup2 clears close-on-exec on the copies; the originals close at exec.
        posix_spawn_file_actions_adddup2(&actions, toChild.read, 0)
        posix_spawn_file_actions_adddup2(&actions, fromChild.write, 1)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGPIPE] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        close(toChild.read)
        close(fromChild.write)
        guard spawned == 0 else {
            close(toChild.write)
            close(fromChild.read)
            throw Errno(spawned)
        }
        self.pid = pid
        input = toChild.write
        output = fromChild.read
    }

    /// Closes the child's standard input: its signal to stop working, verify and report. Idempotent.
    func closeInput() {
        guard input >= 0 else { return }
        close(input)
        input = -1
    }

    /// Whether the child's standard output is still open.
    var isReading: Bool { output >= 0 }

    /// Reads what the child wrote (call when `poll` says ``output`` is readable).
    ///
    /// - Returns: The complete lines read, in order; at the end of its output, the last partial line too
    ///   (and ``isReading`` becomes false).
    func readLines() -> [String] {
        guard output >= 0 else { return [] }
        var chunk = [UInt8](repeating: 0, count: 4096)
        let n = chunk.withUnsafeMutableBytes { read(output, $0.baseAddress, $0.count) }
        if n < 0, errno == EINTR || errno == EAGAIN { return [] }
        if n > 0 { pending += chunk[..<n] }
        var lines: [String] = []
        while let newline = pending.firstIndex(of: 10) {
            lines.append(String(decoding: pending[..<newline], as: UTF8.self))
            pending.removeFirst(newline + 1)
        }
        if n <= 0 {
            if !pending.isEmpty { lines.append(String(decoding: pending, as: UTF8.self)) }
            pending = []
            close(output)
            output = -1
        }
        return lines
    }

    /// Sends `signal` to the child, unless it was reaped (its pid may then be another process's).
    func kill(_ signal: Int32) {
        guard waitStatus == nil else { return }
        _ = Glibc.kill(pid, signal)
    }

    /// Waits for the child to end (at once, if it has) and closes the pipes. Idempotent.
    ///
    /// - Returns: The exit code, or nil when a signal ended it.
    @discardableResult
    func reap() -> Int32? {
        closeInput()
        if output >= 0 {
            close(output)
            output = -1
        }
        if waitStatus == nil {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
            waitStatus = status
        }
        return exitCode
    }

    /// The exit code once reaped, or nil (not reaped, or ended by a signal).
    var exitCode: Int32? {
        guard let status = waitStatus, status & 0x7f == 0 else { return nil }
        return (status >> 8) & 0xff
    }

    /// How the child ended, for people: "exit status N" or "signal N".
    var ending: String {
        guard let status = waitStatus else { return "still running" }
        return status & 0x7f == 0 ? "exit status \((status >> 8) & 0xff)" : "signal \(status & 0x7f)"
    }

    deinit {
        if waitStatus == nil {
            kill(SIGKILL)
            reap()
        }
    }
}
