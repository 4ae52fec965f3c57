import ArgumentParser
import Glibc
import Logging
import NIOCore
import Tmem
import ServiceLifecycle
import TmemHost
import TmemServer
import TmemWire

/// `tmemd`: the host that lends this machine's RAM to clients (docs/PROTOCOL.md, SEMANTICS.md "The
/// host"). Runs in the foreground until SIGTERM or SIGINT, which drain: every client is asked to
/// repatriate its persistent pages before the host stops, so a planned restart loses nothing.
@main
struct Tmemd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tmemd",
        abstract: "Lend this machine's RAM to tmem clients as transcendent memory.",
        discussion: """
            Clients (tmem replay/demo --host, any program using the remote backend) connect over a Unix socket \
            (authenticated by the peer's uid) or TCP (by a challenge-response over the shared secret). The host \
            decides every put: each client gets RAM by its weight up to its cap; persistent pages are never \
            dropped (clients are asked to shrink instead); ephemeral pages are evicted from the clients furthest \
            above their share.
            """)

    @Option(help: "Listen on TCP HOST:PORT (default: no TCP listener).")
    var listen: String?

    @Option(help: "Listen on this Unix socket (default \(HostAddress.defaultUnixPath)).")
    var unix: String = HostAddress.defaultUnixPath

    @Flag(help: "No Unix-socket listener.")
    var noUnix = false

    @Option(help: "The host's capacity: bytes (KiB/MiB/GiB suffixes), a percent of RAM such as 25%, or auto (follow free memory and memory pressure).")
    var capacity: String = "25%"

    @Option(help: "LZ4 acceleration for pages the host compresses (1: best ratio, zram's default; higher: faster, larger).")
    var lz4Acceleration: Int = 1

    @Flag(help: "Store identical ephemeral pages (of any clients' cleancache pools) once; each client is still charged its pages in full.")
    var deduplicateEphemeral = false

    @Option(help: "The floor of --capacity auto (default 64MiB).")
    var capacityFloor: String = "64MiB"

    @Option(help: "Serve Prometheus metrics at http://HOST:PORT/metrics.")
    var metrics: String?

    @Option(help: "The shared secret's file, created mode 0600 with a random secret if missing (default \(SecretFile.defaultPath)).")
    var secretFile: String = SecretFile.defaultPath

    @Option(help: "A client's weight and cap, by name: NAME:weight=W,cap=SIZE (repeatable).")
    var client: [String] = []

    @Option(help: "Also accept this uid on the Unix socket (repeatable; this process's uid and root always are).")
    var allowUid: [UInt32] = []

    @Option(help: "Seconds a shutdown waits for clients to repatriate their pages.")
    var drainTimeout: Double = 30

    @Option(help: "Event-loop threads (default: one per core).")
    var threads: Int = System.coreCount

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Option(help: "Once every listener is ready (and SIGTERM drains), write the TCP port --listen bound (the one the kernel picked for port 0) to this file.")
    var portFile: String?

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("unknown --log-level '\(logLevel)'") }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "tmemd")
        var setting: CapacitySetting
        do {
            setting = try CapacitySetting.parse(capacity)
        } catch { throw ValidationError("--capacity: \(error)") }
        if case .auto = setting {
            guard let floor = parseByteCount(capacityFloor) else { throw ValidationError("--capacity-floor: '\(capacityFloor)' is not a size") }
            setting = .auto(floorBytes: floor)
        }
        var clients: [String: ClientPolicy] = [:]
        for text in client {
            do {
                let (name, policy) = try ClientPolicy.parse(text)
                clients[name] = policy
            } catch { throw ValidationError("--client \(text): \(error)") }
        }
        let secret = try SecretFile.readOrCreate(secretFile)
        let host = try Host(configuration: HostConfiguration(
            capacity: setting, clients: clients, lz4Acceleration: lz4Acceleration, deduplicateEphemeral: deduplicateEphemeral))
        let me = getuid()
        var server = ServerConfiguration(
            unixPath: noUnix ? nil : unix,
            access: AccessPolicy(secret: secret, allowedUIDs: Set([0, me] + allowUid), adminUIDs: Set([0, me])),
            threads: threads, drainTimeoutNanoseconds: UInt64(max(0, drainTimeout) * 1e9))
        if let listen {
            guard case .tcp(let name, let port) = try HostAddress.parse(listen) else { throw ValidationError("--listen wants HOST:PORT") }
            server.tcp = (name, port)
        }
        if let metrics {
            guard case .tcp(let name, let port) = try HostAddress.parse(metrics) else { throw ValidationError("--metrics wants HOST:PORT") }
            server.metrics = (name, port)
        }
        guard server.tcp != nil || server.unixPath != nil else { throw ValidationError("nothing to listen on: give --listen or leave out --no-unix") }
        let service = HostServer(host: host, configuration: server, logger: logger)
        let bound = try service.start()
        var services: [any Service] = [service]
        if let portFile {
            guard server.tcp != nil, let port = bound.first?.port else { throw ValidationError("--port-file needs --listen") }
            services.append(PortFile(path: portFile, port: port))
        }
        logger.info("tmemd: capacity \(host.capacityBytes) bytes, \(clients.count) configured clients")
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}

/// `--port-file`: written once the service group runs, when SIGTERM and SIGINT are already trapped, so
/// whoever waits for the file may send one at once and get a drain; then idle until shutdown.
private struct PortFile: Service {
    let path: String
    let port: Int

    func run() async throws {
        try writePortFile(path, port: port)
        try? await gracefulShutdown()
    }
}

/// Writes `port` and a newline to `path` whole: into a temporary file beside it, renamed over it, so a
/// reader polling for the file (a test, a script that started tmemd with port 0) never sees half of it.
private func writePortFile(_ path: String, port: Int) throws {
    let text = Array("\(port)\n".utf8)
    let temporary = path + ".tmp"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw EndpointError("cannot write the port file \(path): \(String(cString: strerror(errno)))") }
    let written = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
    guard written == text.count, rename(temporary, path) == 0 else {
        unlink(temporary)
        throw EndpointError("cannot write the port file \(path): \(String(cString: strerror(errno)))")
    }
}
