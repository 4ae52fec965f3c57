#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Tmem
import TmemSwapFile

/// `tmem` running beside the test with pipes on its standard input and output: the test writes a line
/// and reads the answer before it writes the next, as a program driving `tmem replay` does. Standard
/// error goes to a file.
final class CoProcess {
    let pid: pid_t
    private var input: Int32
    private var output: Int32
    private let errors = TemporaryDirectory(prefix: "tmem-cli-test")
    private var pending: [UInt8] = []
    private var status: Int32?

    /// Starts `executable arguments`, with `environment` entries (`NAME=value`) added to ours.
    ///
    /// - Parameter mergingStandardError: Send standard error down the same pipe as standard output (for a
    ///   daemon that logs there), instead of to a file.
    init(_ executable: String, _ arguments: [String], environment: [String] = [], mergingStandardError: Bool = false) throws {
        var toChild: [Int32] = [0, 0]
        var fromChild: [Int32] = [0, 0]
        // Close-on-exec from the start: tests run in parallel, and a pipe end leaked into another child
        // would keep this one's input from ever ending (and its output from ever breaking).
        guard makePipe(&toChild) == 0, makePipe(&fromChild) == 0 else { throw Errno.current }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
        if mergingStandardError {
            posix_spawn_file_actions_adddup2(&actions, fromChild[1], 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 2, errors.file("err"), O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        }
        for fd in toChild + fromChild { posix_spawn_file_actions_addclose(&actions, fd) }

        let env = environmentAdding(environment)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup($0) } + [nil]
        defer { for p in argv + envp { free(p) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        close(toChild[0])
        close(fromChild[1])
        guard spawned == 0 else {
            close(toChild[1])
            close(fromChild[0])
            throw Errno(spawned)
        }
        self.pid = pid
        input = toChild[1]
        output = fromChild[0]
    }

    /// Writes `text` and a newline to the tool's standard input.
    func send(_ text: String) {
        var line = text + "\n"
        line.withUTF8 { bytes in
            var done = 0
            while done < bytes.count {
                let n = write(input, bytes.baseAddress! + done, bytes.count - done)
                guard n > 0 else { return }
                done += n
            }
        }
    }

    /// The next line of the tool's output, or nil at its end or when none comes within `seconds`
    /// (a safety net against a tool that holds its answers back: the test fails instead of hanging).
    func receive(within seconds: Int32 = 20) -> String? {
        while true {
            if let newline = pending.firstIndex(of: 10) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeFirst(newline + 1)
                return line
            }
            var ready = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
            guard poll(&ready, 1, seconds * 1000) == 1 else { return nil }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { read(output, $0.baseAddress, $0.count) }
            guard n > 0 else { return nil }
            pending += chunk[..<n]
        }
    }

    /// Closes the tool's standard input (end of the trace).
    func closeInput() {
        if input >= 0 { close(input) }
        input = -1
    }

    /// Closes our end of the tool's standard output (a reader that went away).
    func closeOutput() {
        if output >= 0 { close(output) }
        output = -1
    }

    /// Sends a signal.
    func kill(_ signal: Int32) { _ = Glibc.kill(pid, signal) }

    /// Waits for the tool to end: its exit code, or nil when a signal ended it.
    func wait() -> Int32? {
        if status == nil {
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) == -1 && errno == EINTR {}
            status = raw
        }
        let raw = status!
        return raw & 0x7f == 0 ? (raw >> 8) & 0xff : nil
    }

    /// What the tool wrote to standard error so far.
    var standardError: String { (try? readFile(errors.file("err"))) ?? "" }

    deinit {
        closeInput()
        closeOutput()
        if status == nil {
            kill(SIGKILL)
            _ = wait()
        }
    }
}


/// `pipe2(fds, O_CLOEXEC)`, which Glibc's module map hides without `_GNU_SOURCE`: looked up in libc.
private func makePipe(_ fds: inout [Int32]) -> Int32 {
    typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    guard let symbol = dlsym(nil, "pipe2") else { return -1 }
    return fds.withUnsafeMutableBufferPointer { unsafeBitCast(symbol, to: Pipe2.self)($0.baseAddress!, O_CLOEXEC) }
}
