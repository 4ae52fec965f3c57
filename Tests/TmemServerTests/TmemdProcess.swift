import Glibc
import Tmem
import TmemRemote
import TmemSwapFile
import TmemTestKit
import TmemWire

/// The `tmemd` executable of this build: beside the test bundle (`swift test` builds every product of
/// the package into the same directory), or nil when it is not there.
let tmemdExecutable: String? = {
    var buffer = [CChar](repeating: 0, count: 4096)
    let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard length > 0 else { return nil }
    let bundle = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let path = String(bundle[..<(bundle.lastIndex(of: "/") ?? bundle.startIndex)]) + "/tmemd"
    return access(path, X_OK) == 0 ? path : nil
}()

/// Why a test of the real daemon could not go on, said for people.
struct DaemonTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Polls `condition` every millisecond or so until it holds or `seconds` pass: how a test waits for
/// another process (which can tell it nothing directly), never a fixed sleep.
///
/// - Returns: Whether the condition came true in time.
@discardableResult
func poll(seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = monotonicNanoseconds() + UInt64(seconds * 1e9)
    while true {
        if try condition() { return true }
        if monotonicNanoseconds() >= deadline { return false }
        var pause = timespec(tv_sec: 0, tv_nsec: 1_000_000)
        nanosleep(&pause, nil)
    }
}

/// A real `tmemd`, started by a test as a child process: a temporary directory with its secret file, its
/// Unix socket and its port file; TCP on a loopback port the kernel picks (`--listen 127.0.0.1:0`,
/// reported through `--port-file`). Ready once the port file is written (every listener is bound then) and
/// the socket accepts a connection.
///
/// Killed (SIGKILL, even when stopped) and reaped when released, so no test leaves a daemon behind;
/// a test that ends the process itself (SIGTERM, kill -9) reaps it with ``waitForExit(seconds:)``.
/// Its standard error is a file in the directory, quoted in every failure.
final class TmemdProcess {
    let directory: TemporaryDirectory
    let secret: [UInt8]
    let socketPath: String
    let portFilePath: String
    let options: [String]
    private(set) var pid: pid_t = 0
    private(set) var port = 0
    /// Whether the current process has been reaped.
    private var reaped = true

    /// Starts a daemon.
    ///
    /// - Parameters:
    ///   - capacity: `--capacity`.
    ///   - options: More options (`--client`, `--drain-timeout`...).
    /// - Throws: ``DaemonTestFailure`` when the executable is missing, or the daemon exits or is not
    ///   ready within 30 s (its standard error says why).
    init(capacity: String = "64MiB", options: [String] = []) throws {
        directory = TemporaryDirectory(prefix: "tmemd-test")
        var rng = SystemRandomNumberGenerator()
        secret = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        socketPath = directory.file("tmemd.sock")
        portFilePath = directory.file("port")
        try writeBytes(directory.file("secret"), secret)
        self.options = [
            "--unix", socketPath, "--listen", "127.0.0.1:0", "--port-file", portFilePath,
            "--secret-file", directory.file("secret"), "--capacity", capacity, "--threads", "2", "--log-level", "info",
        ] + options
        try start()
    }

    deinit { killAndReap() }

    var unix: HostAddress { .unix(path: socketPath) }
    var tcp: HostAddress { .tcp(host: "127.0.0.1", port: port) }

    /// What the daemon wrote to its standard error so far (all its runs).
    var standardError: String { (try? readText(directory.file("stderr"))) ?? "" }

    /// Starts the daemon (again, after it exited: same socket, secret and options; a new TCP port).
    func start() throws {
        precondition(reaped, "the daemon is still running")
        guard let executable = tmemdExecutable else {
            throw DaemonTestFailure("no tmemd beside the test bundle: build the package's products (swift build) first")
        }
        unlink(portFilePath)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, directory.file("stdout"), O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, directory.file("stderr"), O_WRONLY | O_CREAT | O_APPEND, 0o600)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + options).map { strdup($0) } + [nil]
        defer { for arg in argv { free(arg) } }
        var child: pid_t = 0
        let spawned = posix_spawn(&child, executable, &actions, nil, argv, environ)
        guard spawned == 0 else { throw DaemonTestFailure("cannot start \(executable): \(Errno(spawned))") }
        pid = child
        reaped = false
        var exited: Int32?
        let ready = poll(seconds: 30) {
            if let status = reapIfExited() {
                exited = status
                return true
            }
            guard let text = try? readText(portFilePath), let bound = Int(text.filter(\.isNumber)) else { return false }
            port = bound
            return true
        }
        if let exited { throw DaemonTestFailure("tmemd exited (status \(exited)) before it was ready:\n\(standardError)") }
        guard ready else {
            killAndReap()
            throw DaemonTestFailure("tmemd was not ready within 30 s:\n\(standardError)")
        }
        // Every listener is bound before the port file is written; make sure the socket accepts.
        _ = try RawClient(unix)
    }

    /// Whether the daemon is still running (one that exited is reaped here).
    var isRunning: Bool { !reaped && reapIfExited() == nil }

    /// Sends `signal` to the daemon.
    func send(_ signal: Int32) {
        precondition(!reaped, "the daemon is not running")
        kill(pid, signal)
    }

    /// Waits for the daemon to exit and reaps it.
    ///
    /// - Returns: Its exit code, or nil if a signal ended it.
    /// - Throws: ``DaemonTestFailure`` if it is still running after `seconds`.
    @discardableResult
    func waitForExit(seconds: Double) throws -> Int32? {
        var status: Int32?
        guard poll(seconds: seconds, { status = reapIfExited(); return status != nil }) else {
            throw DaemonTestFailure("tmemd did not exit within \(seconds) s:\n\(standardError)")
        }
        // WIFEXITED / WEXITSTATUS, which Glibc's module does not export as functions.
        return status! & 0x7f == 0 ? (status! >> 8) & 0xff : nil
    }

    /// kill -9, then reap.
    func killAndReap() {
        guard !reaped else { return }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        reaped = true
    }

    /// The wait status if the daemon has exited (it is then reaped), else nil.
    private func reapIfExited() -> Int32? {
        guard !reaped else { return nil }
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        reaped = true
        return status
    }

    /// Whether the kernel says the daemon is stopped (state `T` in /proc/PID/stat, after SIGSTOP).
    func isStopped() -> Bool {
        guard let stat = try? readText("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return false }
        return stat[close...].dropFirst().drop { $0 == " " }.first == "T"
    }

    /// The daemon's resident memory (VmRSS of /proc/PID/status), in bytes.
    func residentBytes() throws -> Int {
        let status = try readText("/proc/\(pid)/status")
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kib = Int(line.filter(\.isNumber))
        else { throw DaemonTestFailure("no VmRSS in /proc/\(pid)/status") }
        return kib * 1024
    }

    /// A remote backend of this daemon.
    ///
    /// - Parameters:
    ///   - overTCP: TCP (by the secret) instead of the Unix socket (by uid, with the secret too).
    ///   - timeoutMilliseconds: How long a request may wait for its reply: 30 s unless the test is about
    ///     timeouts, since on a shared machine whole processes stall for seconds now and then.
    ///   - reconnectIntervalMilliseconds: The least time between two attempts to reconnect.
    func client(
        name: String, overTCP: Bool = false, connections: Int = 1, timeoutMilliseconds: UInt64 = 30_000,
        reconnectIntervalMilliseconds: UInt64 = 500
    ) throws -> RemoteBackend {
        try RemoteBackend(configuration: RemoteConfiguration(
            address: overTCP ? tcp : unix, name: name, secret: secret, connections: connections,
            timeoutNanoseconds: timeoutMilliseconds * 1_000_000,
            reconnectIntervalNanoseconds: reconnectIntervalMilliseconds * 1_000_000))
    }

    /// A raw frame client, connected and authenticated.
    func rawClient(name: String, overTCP: Bool = false) throws -> RawClient {
        let client = try RawClient(overTCP ? tcp : unix)
        try client.handshake(name: name, secret: secret)
        return client
    }
}

/// Writes `bytes` to a new file (mode 0600) at `path`.
func writeBytes(_ path: String, _ bytes: [UInt8]) throws { try writeWholeFile(path, bytes) }

/// The whole file at `path` as text.
func readText(_ path: String) throws -> String { String(decoding: try readWholeFile(path), as: UTF8.self) }
