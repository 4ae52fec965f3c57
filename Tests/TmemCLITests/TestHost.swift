#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Tmem
import TmemSwapFile

/// The `tmemd` executable of this build: beside `tmem` (`swift test` builds every product into the same
/// directory), or nil when it is not there.
let tmemdExecutable: String? = {
    guard let tool = tmemExecutable else { return nil }
    let path = String(tool.dropLast("tmem".count)) + "tmemd"
    return access(path, X_OK) == 0 ? path : nil
}()

/// A `tmemd` started for one test: on a Unix socket in a directory of its own (and on TCP when asked),
/// with its secret there too. Ready once constructed: it waits for tmemd's log line that follows the
/// binding of every listener, so no test ever polls or sleeps for it. ``stop()`` sends SIGTERM (which
/// drains) and waits; a test that fails before then leaves it to `CoProcess`'s deinit, which kills it.
final class TestHost {
    let directory = TemporaryDirectory(prefix: "tmem-cli-host")
    /// The Unix socket's path.
    var socket: String { directory.file("tmemd.sock") }
    /// The secret's path (tmemd makes it on start).
    var secretFile: String { directory.file("secret") }
    /// The TCP port tmemd bound, when started with `tcp`.
    private(set) var tcpPort: Int?
    private let process: CoProcess
    /// tmemd's log so far.
    private(set) var log: [String] = []

    /// Starts tmemd and waits until it listens.
    ///
    /// - Parameters:
    ///   - executable: The tmemd binary.
    ///   - arguments: More options (`--capacity`, `--client`, `--allow-uid`...).
    ///   - tcp: Also listen on 127.0.0.1, on a port the kernel picks.
    /// - Throws: ``TestHostError`` with tmemd's log when it does not come up within 30 s.
    init(_ executable: String, arguments: [String] = [], tcp: Bool = false) throws {
        var all = ["--unix", directory.file("tmemd.sock"), "--secret-file", directory.file("secret"), "--threads", "1"]
        if tcp { all += ["--listen", "127.0.0.1:0"] }
        process = try CoProcess(executable, all + arguments, mergingStandardError: true)
        while true {
            guard let line = process.receive(within: 30) else {
                throw TestHostError(message: "tmemd did not start:\n" + log.joined(separator: "\n"))
            }
            log.append(line)
            if line.contains("listening on [IPv4]"), let colon = line.lastIndex(of: ":") {
                tcpPort = Int(line[line.index(after: colon)...])
            }
            // tmemd logs this once every listener is bound.
            if line.contains("tmemd: capacity") { break }
        }
    }

    /// Sends SIGTERM (a drain, then exit) and waits.
    ///
    /// - Returns: tmemd's exit code, or nil when a signal ended it.
    func stop() -> Int32? {
        process.kill(SIGTERM)
        while let line = process.receive(within: 60) { log.append(line) }
        return process.wait()
    }
}

/// A test host that could not be started.
struct TestHostError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// The pids of processes (other than this one) whose command line mentions `text`: what a test looks
/// for to be sure a tool left no process behind.
func processesMentioning(_ text: String) -> [Int32] {
    guard let proc = opendir("/proc") else { return [] }
    defer { closedir(proc) }
    var found: [Int32] = []
    while let entry = readdir(proc) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        guard let pid = Int32(name), pid != getpid(), let command = try? readFile("/proc/\(name)/cmdline") else { continue }
        if command.contains(text) { found.append(pid) }
    }
    return found
}
