#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CTmemRun
import Testing
import TmemRunWorkloads

/// The preload library's side of `tmem run`'s protocol, with this test standing in for the monitor:
/// a real program (`/bin/echo`, `/bin/sleep`) is started with `libTmemRunPreload.so` preloaded and
/// `$TMEM_RUN_SOCKET` naming a socket the test listens on.
@Suite struct PreloadHandshakeTests {
    @Test func helloCarriesTheProgramsUserfaultfdAndAnAcceptedProgramRuns() throws {
        let monitor = try StandInMonitor()
        let program = try monitor.spawn(["/bin/echo", "hello"])
        let hello = try monitor.acceptHello()
        #expect(hello.magic == TMEM_RUN_MAGIC)
        #expect(hello.kind == UInt32(TMEM_RUN_HELLO_NEW.rawValue))
        #expect(hello.pid == program.pid)
        #expect(hello.scratchPages == UInt64(TMEM_RUN_BATCH))
        #expect(hello.stackLength > 0)
        #expect(hello.descriptorKind.contains("userfaultfd"), "came with \(hello.descriptorKind)")
        try monitor.reply(status: 0, message: "")
        let end = program.wait()
        #expect(end == .exited(0))
    }

    @Test func aRefusedProgramIsKilledWithTheMonitorsMessage() throws {
        let monitor = try StandInMonitor()
        let program = try monitor.spawn(["/bin/echo", "hello"])
        _ = try monitor.acceptHello()
        try monitor.reply(status: EPERM, message: "refused by the test")
        #expect(program.wait() == .signalled(SIGKILL))
        #expect(program.standardError().contains("refused by the test"))
    }

    @Test func aProgramWhoseMonitorIsGoneEndsLoudly() throws {
        let monitor = try StandInMonitor()
        let program = try monitor.spawn(["/bin/sleep", "30"])
        _ = try monitor.acceptHello()
        try monitor.reply(status: 0, message: "")
        monitor.dropConnection()
        #expect(program.wait() == .signalled(SIGKILL))
        #expect(program.standardError().contains("the monitor is gone"))
    }
}

/// What the library sent in its hello.
struct Hello {
    var magic: UInt32
    var kind: UInt32
    var pid: Int32
    var scratchPages: UInt64
    var stackLength: UInt64
    /// readlink of the descriptor that came with the hello ("" if none).
    var descriptorKind: String
}

/// A SOCK_SEQPACKET listener in the abstract namespace, speaking the monitor's side of the hello.
final class StandInMonitor {
    let listener: Int32
    let name: String
    var connection: Int32 = -1
    private static let counter = Counter()

    init() throws {
        name = "tmem-run-test-\(getpid())-\(Self.counter.next())"
        listener = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(listener >= 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(name.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { path in
            path[0] = 0
            for (i, b) in bytes.enumerated() { path[i + 1] = b }
        }
        let size = socklen_t(MemoryLayout<sa_family_t>.size + 1 + bytes.count)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, size) }
        }
        try #require(bound == 0, "bind: \(String(cString: strerror(errno)))")
        try #require(listen(listener, 4) == 0)
    }

    deinit {
        if connection >= 0 { close(connection) }
        close(listener)
    }

    /// Starts `arguments` with the preload library and this monitor's socket in its environment.
    func spawn(_ arguments: [String]) throws -> SpawnedProgram {
        try SpawnedProgram(arguments, environment: [
            "LD_PRELOAD=\(try Self.libraryPath())", "\(TMEM_RUN_SOCKET_ENV)=@\(name)",
        ])
    }

    /// Waits (at most 20 s, so that a library that never connects fails the test) for the hello.
    func acceptHello() throws -> Hello {
        var ready = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        try #require(poll(&ready, 1, 20_000) == 1, "the program never connected")
        connection = accept(listener, nil, nil)
        try #require(connection >= 0)
        var buffer = [UInt8](repeating: 0, count: MemoryLayout<tmem_run_hello>.size)
        var fd: Int32 = -1
        let n = buffer.withUnsafeMutableBytes { tmem_run_recv(connection, $0.baseAddress, UInt($0.count), &fd) }
        try #require(n == MemoryLayout<tmem_run_hello>.size)
        defer { if fd >= 0 { close(fd) } }
        let hello = buffer.withUnsafeBytes { $0.loadUnaligned(as: tmem_run_hello.self) }
        var kind = ""
        if fd >= 0 {
            var link = [CChar](repeating: 0, count: 256)
            let length = readlink("/proc/self/fd/\(fd)", &link, link.count - 1)
            if length > 0 { kind = String(decoding: link[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        }
        return Hello(
            magic: hello.magic, kind: hello.kind, pid: hello.pid, scratchPages: hello.scratch_pages,
            stackLength: hello.stack_len, descriptorKind: kind)
    }

    /// Answers the hello.
    func reply(status: Int32, message: String) throws {
        var reply = tmem_run_reply()
        reply.magic = TMEM_RUN_MAGIC
        reply.status = status
        withUnsafeMutableBytes(of: &reply.message) { text in
            for (i, b) in message.utf8.prefix(text.count - 1).enumerated() { text[i] = b }
        }
        let sent = withUnsafeBytes(of: &reply) { tmem_run_send(connection, $0.baseAddress, UInt($0.count), -1) }
        try #require(sent == MemoryLayout<tmem_run_reply>.size)
    }

    /// Closes the connection, as a monitor that died would.
    func dropConnection() {
        close(connection)
        connection = -1
    }

    /// libTmemRunPreload.so, built beside the test bundle by `swift build`/`swift test`.
    static func libraryPath() throws -> String {
        var exe = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &exe, exe.count - 1)
        try #require(length > 0)
        var directory = String(decoding: exe[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        while let last = directory.last, last != "/" { directory.removeLast() }
        // The test binary is .build/<config>/TmemPackageTests.xctest, or a file inside a bundle directory.
        for candidate in [directory + "libTmemRunPreload.so", directory + "../libTmemRunPreload.so"]
        where access(candidate, R_OK) == 0 {
            return candidate
        }
        throw PreloadMissing(directory: directory)
    }

    struct PreloadMissing: Error, CustomStringConvertible {
        var directory: String
        var description: String { "libTmemRunPreload.so is not built beside the tests (in \(directory))" }
    }

    final class Counter: @unchecked Sendable {
        private var value = 0
        private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        init() { pthread_mutex_init(lock, nil) }
        func next() -> Int {
            pthread_mutex_lock(lock)
            defer { pthread_mutex_unlock(lock) }
            value += 1
            return value
        }
    }
}

/// How a spawned program ended.
/// A program started with posix_spawn, its stderr in a pipe.
final class SpawnedProgram {
    let pid: Int32
    private let errorPipe: Int32

    init(_ arguments: [String], environment: [String]) throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, arguments[0], &actions, nil, argv, envp)
        close(fds[1])
        errorPipe = fds[0]
        try #require(rc == 0, "posix_spawn \(arguments[0]): \(String(cString: strerror(rc)))")
        pid = child
    }

    deinit { close(errorPipe) }

    func wait() -> ProgramEnd {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return ProgramEnd(status: status)
    }

    /// Everything the program wrote to stderr (call after it ended).
    func standardError() -> String {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(errorPipe, &chunk, chunk.count)
            if n <= 0 { break }
            bytes += chunk[..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
