import Glibc
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization
import Tmem
import TmemHost
import TmemWire

/// Where the server listens and how it behaves.
public struct ServerConfiguration: Sendable {
    /// TCP listener (`host`, `port`; port 0 picks a free one), or nil.
    public var tcp: (host: String, port: Int)?
    /// Unix-socket listener path (made mode 0660, or 0666 when the allow list names other users; a stale
    /// socket file is replaced), or nil.
    public var unixPath: String?
    /// The Prometheus endpoint (`GET /metrics`), or nil.
    public var metrics: (host: String, port: Int)?
    public var access: AccessPolicy
    /// Event-loop threads (default: the machine's cores).
    public var threads: Int
    /// How long a drain waits for clients to repatriate their persistent pages.
    public var drainTimeoutNanoseconds: UInt64
    /// How often the host's policy is re-evaluated (capacity, shrink notices).
    public var tickNanoseconds: UInt64

    public init(
        tcp: (host: String, port: Int)? = nil, unixPath: String? = nil, metrics: (host: String, port: Int)? = nil,
        access: AccessPolicy, threads: Int = System.coreCount, drainTimeoutNanoseconds: UInt64 = 30_000_000_000,
        tickNanoseconds: UInt64 = 1_000_000_000
    ) {
        self.tcp = tcp
        self.unixPath = unixPath
        self.metrics = metrics
        self.access = access
        self.threads = threads
        self.drainTimeoutNanoseconds = drainTimeoutNanoseconds
        self.tickNanoseconds = tickNanoseconds
    }
}

/// The tmemd server: SwiftNIO listeners (TCP and a Unix socket) in front of a ``Host``, the policy's
/// tick (capacity re-evaluated, shrink notices sent), the metrics endpoint, and the drain that a
/// planned shutdown runs first. A swift-service-lifecycle `Service`: ``run()`` serves until graceful
/// shutdown (SIGTERM/SIGINT in a `ServiceGroup`), then drains and stops.
public final class HostServer: Service, Sendable {
    public let host: Host
    public let configuration: ServerConfiguration
    public let metrics = ServerMetrics()
    let context: ServerContext
    private let group: MultiThreadedEventLoopGroup
    private let listeners = Mutex<[any Channel]>([])
    private let tickTask = Mutex<RepeatedTask?>(nil)
    private let stopped = Atomic<Bool>(false)

    public init(host: Host, configuration: ServerConfiguration, logger: Logger = Logger(label: "tmemd")) {
        self.host = host
        self.configuration = configuration
        context = ServerContext(host: host, access: configuration.access, metrics: metrics, logger: logger)
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, configuration.threads))
        context.sessions.sessionEnded = { [host, logger] session in
            host.closeSession(session)
            logger.debug("session \(session.id) of '\(session.name)' ended; its pools are freed")
        }
    }

    /// Binds every listener and starts the tick.
    ///
    /// - Returns: The bound addresses (TCP with its real port, the Unix socket, metrics), in that order.
    /// - Throws: When a listener cannot be bound (the port is taken, the socket path is not writable).
    @discardableResult
    public func start() throws -> [SocketAddress] {
        var bound: [any Channel] = []
        do {
            if let (hostName, port) = configuration.tcp {
                bound.append(try bootstrap(.tcp).bind(host: hostName, port: port).wait())
            }
            if let path = configuration.unixPath {
                try prepareSocketPath(path)
                bound.append(try bootstrap(.unix(peerUID: nil)).bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).wait())
                chmod(path, Self.socketMode(allowing: configuration.access.allowedUIDs))
            }
            if let (hostName, port) = configuration.metrics {
                bound.append(try metricsBootstrap().bind(host: hostName, port: port).wait())
            }
        } catch {
            for channel in bound { try? channel.close().wait() }
            throw error
        }
        listeners.withLock { $0 = bound }
        let interval = TimeAmount.nanoseconds(Int64(configuration.tickNanoseconds))
        let task = group.next().scheduleRepeatedTask(initialDelay: interval, delay: interval) { [weak self] _ in self?.tick() }
        tickTask.withLock { $0 = task }
        for channel in bound { context.logger.info("listening on \(channel.localAddress.map { "\($0)" } ?? "?")") }
        return bound.compactMap(\.localAddress)
    }

    /// The service: starts (if not started), serves until graceful shutdown, then drains and stops.
    public func run() async throws {
        if listeners.withLock({ $0.isEmpty }) { try start() }
        try? await gracefulShutdown()
        await drainAndStop()
    }

    /// A planned shutdown: stops accepting, asks every session to repatriate its persistent pages
    /// (SHRINK to 0), waits up to the drain timeout until none is held, then GO_AWAY and close.
    public func drainAndStop() async {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for channel in listeners.withLock({ $0 }) { try? await channel.close() }
        let notices = host.drain()
        send(notices)
        context.logger.info("draining: \(notices.count) sessions asked to repatriate \(host.persistentPagesHeld) pages")
        let deadline = monotonicNanoseconds() + configuration.drainTimeoutNanoseconds
        while host.persistentPagesHeld > 0, context.sessions.count > 0, monotonicNanoseconds() < deadline {
            try? await Task.sleep(nanoseconds: 20_000_000)
        }
        let left = host.persistentPagesHeld
        if left > 0 { context.logger.warning("drain timed out: \(left) persistent pages were not repatriated") }
        for channel in context.sessions.allChannels {
            channel.writeAndFlush(ByteBuffer.goAway("the host is shutting down", allocator: channel.allocator), promise: nil)
            try? await channel.close()
        }
        stopNow()
    }

    /// Stops at once, without a drain (what a crash would do, less the crash; for tests and errors).
    public func stopNow() {
        stopped.store(true, ordering: .releasing)
        tickTask.withLock { $0?.cancel(); $0 = nil }
        for channel in listeners.withLock({ $0 }) + context.sessions.allChannels { try? channel.close().wait() }
        try? group.syncShutdownGracefully()
        if let path = configuration.unixPath { unlink(path) }
    }

    /// One policy round: the host re-evaluates and says whom to notify.
    func tick() {
        send(host.tick(nowNanoseconds: monotonicNanoseconds()))
    }

    private func send(_ notices: [ShrinkNotice]) {
        for notice in notices {
            guard let channel = context.sessions.channel(of: notice.session) else { continue }
            let frame = ByteBuffer.shrinkNotice(
                targetPages: notice.targetPages, deadlineMilliseconds: notice.deadlineMilliseconds, allocator: channel.allocator)
            channel.writeAndFlush(frame, promise: nil)
        }
    }

    private func bootstrap(_ transport: Transport) -> ServerBootstrap {
        let context = self.context
        var bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 256 * 1024, high: 1024 * 1024))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ConnectionHandler(server: context, transport: transport))
                }
            }
        if transport == .tcp { bootstrap = bootstrap.childChannelOption(.socketOption(.tcp_nodelay), value: 1) }
        return bootstrap
    }

    private func metricsBootstrap() -> ServerBootstrap {
        let metrics = self.metrics
        let host = self.host
        return ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(metrics: metrics, host: host))
                }
            }
    }

    /// The Unix socket's mode: 0660 when only root and this process's uid are allowed, 0666 when the
    /// allow list names other users (`tmemd --allow-uid`), who could not otherwise connect at all. The
    /// peer's uid (SO_PEERCRED), checked at AUTH, is what admits a client either way.
    static func socketMode(allowing uids: Set<UInt32>) -> mode_t {
        uids.isSubset(of: [0, getuid()]) ? 0o660 : 0o666
    }

    /// Makes the socket's directory if needed, and refuses to replace anything but a socket.
    private func prepareSocketPath(_ path: String) throws {
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            mkdir(String(path[..<slash]), 0o755)
        }
        var info = stat()
        if lstat(path, &info) == 0, info.st_mode & S_IFMT != S_IFSOCK {
            throw EndpointError("\(path) exists and is not a socket; refusing to replace it")
        }
    }
}
