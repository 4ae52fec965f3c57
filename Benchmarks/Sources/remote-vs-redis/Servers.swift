// remote-vs-redis: starting the two servers the same way — a free loopback port and a Unix socket in a
// scratch directory, the same CPU, persistence off for Redis — and waiting until each answers.
#if canImport(Glibc)
    import Glibc
#endif

/// A private temporary directory (mode 0700) for the sockets, the secret file and the servers' logs.
/// `remove()` deletes everything in it; `deinit` calls it.
final class ScratchDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/remote-vs-redis.XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { throw BenchError("mkdtemp: \(errnoText(errno))") }
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        EmergencyCleanup.register(
            directory: path,
            files: ["secret", "tmemd.sock", "redis.sock", "tmemd.log", "redis.log"].map { "\(path)/\($0)" })
    }

    deinit { remove() }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    /// Writes 32 random bytes to a new file of mode 0600: tmemd's `--secret-file`, and the load
    /// generator's key for the TCP proof.
    ///
    /// - Returns: The path and the bytes.
    func makeSecret() throws -> (path: String, bytes: [UInt8]) {
        guard let random = readSmallFile("/dev/urandom", limit: 32), random.count >= 32 else {
            throw BenchError("cannot read 32 random bytes from /dev/urandom")
        }
        let bytes = Array(random.prefix(32))
        let secretPath = file("secret")
        let fd = open(secretPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BenchError("cannot create \(secretPath): \(errnoText(errno))") }
        defer { close(fd) }
        fchmod(fd, 0o600)
        guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, 32) }) == 32 else {
            throw BenchError("cannot write \(secretPath): \(errnoText(errno))")
        }
        return (secretPath, bytes)
    }

    /// Deletes every entry of the directory, then the directory. Idempotent.
    func remove() {
        if let dir = opendir(path) {
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) {
                    String(cString: $0.bindMemory(to: CChar.self).baseAddress!)
                }
                if name != "." && name != ".." { unlink(file(name)) }
            }
            closedir(dir)
        }
        rmdir(path)
        EmergencyCleanup.unregisterDirectory()
    }
}

/// Which server a run measures, and how to reach it.
enum ServerKind: String, CustomStringConvertible {
    case tmemd, redis
    var description: String { self == .tmemd ? "tmemd" : "redis-server" }
}

/// A started server with both its endpoints.
struct RunningServer {
    let kind: ServerKind
    let process: ServerProcess
    let tcp: Endpoint
    let unix: Endpoint
}

/// Starts servers on the servers' CPU and waits until they answer.
struct ServerLauncher {
    let scratch: ScratchDirectory
    /// How long a server may take to answer after it was started.
    var startupSeconds = 20.0

    /// `tmemd --listen 127.0.0.1:PORT --unix PATH --capacity 2GiB --secret-file FILE`.
    func startTmemd(binary: String, secretPath: String) throws -> RunningServer {
        let port = try Socket.freeLoopbackPort()
        let socketPath = scratch.file("tmemd.sock")
        let process = try spawnPinned(
            name: "tmemd", path: binary,
            arguments: [
                "--listen", "127.0.0.1:\(port)", "--unix", socketPath, "--capacity", "2GiB", "--secret-file",
                secretPath,
            ],
            log: scratch.file("tmemd.log"))
        let server = RunningServer(kind: .tmemd, process: process, tcp: .tcp(port: port), unix: .unix(path: socketPath))
        // tmemd says nothing before HELLO: a CHALLENGE on TCP and a connection on the socket prove it listens.
        try waitUntilAnswering(server) { endpoint in
            let socket = try Socket(connectingTo: endpoint, timeoutSeconds: 5)
            guard case .tcp = endpoint else { return }
            let reader = FrameReader(socket: socket)
            let reply = try reader.exchange(
                FrameHeader(op: .hello, requestID: 1), TmemHandshake.helloPayload(name: "probe", join: nil))
            guard reply.header.op == TmemOp.challenge.rawValue else {
                throw BenchError("tmemd answered HELLO with \(reply.header.opName)")
            }
        }
        return server
    }

    /// `redis-server --port PORT --unixsocket PATH --save "" --appendonly no`, bound to loopback only.
    func startRedis(binary: String) throws -> RunningServer {
        let port = try Socket.freeLoopbackPort()
        let socketPath = scratch.file("redis.sock")
        let process = try spawnPinned(
            name: "redis-server", path: binary,
            arguments: [
                "--port", "\(port)", "--bind", "127.0.0.1", "--unixsocket", socketPath, "--unixsocketperm", "700",
                "--save", "", "--appendonly", "no", "--dir", scratch.path, "--daemonize", "no",
                "--logfile", "", "--maxmemory", "0",
            ],
            log: scratch.file("redis.log"))
        let server = RunningServer(kind: .redis, process: process, tcp: .tcp(port: port), unix: .unix(path: socketPath))
        try waitUntilAnswering(server) { endpoint in
            let socket = try Socket(connectingTo: endpoint, timeoutSeconds: 5)
            let reply = try RESP.call(["PING"], on: socket)
            guard reply == .simple("PONG") else { throw BenchError("redis-server answered PING with \(reply)") }
        }
        return server
    }

    /// Spawns with the calling thread pinned to the servers' CPU (the child inherits it), then moves the
    /// thread back to the load generator's CPU.
    private func spawnPinned(name: String, path: String, arguments: [String], log: String) throws -> ServerProcess {
        guard access(path, X_OK) == 0 else { throw BenchError("\(name): \(path) is not an executable file") }
        guard let plan = CPUPlacement.plan else {
            return try ServerProcess(name: name, path: path, arguments: arguments, logPath: log)
        }
        try CPUPlacement.pinCurrentThread(to: plan.server)
        defer { try? CPUPlacement.pinCurrentThread(to: plan.loadGenerator) }
        return try ServerProcess(name: name, path: path, arguments: arguments, logPath: log)
    }

    /// Tries `probe` on both endpoints every 20 ms until both succeed; fails at once if the server exits.
    private func waitUntilAnswering(_ server: RunningServer, probe: (Endpoint) throws -> Void) throws {
        let deadline = monotonicNanos() + UInt64(startupSeconds * 1e9)
        var lastError = ""
        while true {
            if server.process.hasExited { throw server.process.failure("it did not start") }
            do {
                try probe(server.tcp)
                try probe(server.unix)
                return
            } catch {
                lastError = "\(error)"
            }
            if monotonicNanos() > deadline {
                server.process.stop()
                throw server.process.failure(
                    "no answer on \(server.tcp) and \(server.unix) within "
                        + "\(Int(startupSeconds)) s (last: \(lastError))")
            }
            usleep(20_000)
        }
    }
}

/// Finds an executable by name on PATH.
func findOnPath(_ name: String) -> String? {
    guard let path = getenv("PATH").map({ String(cString: $0) }) else { return nil }
    for dir in path.split(separator: ":") where !dir.isEmpty {
        let candidate = "\(dir)/\(name)"
        if access(candidate, X_OK) == 0 { return candidate }
    }
    return nil
}
