import Glibc
import TmemWire

/// How a ``RemoteBackend`` reaches its host.
public struct RemoteConfiguration: Sendable {
    /// The host: `HOST:PORT` or a Unix socket.
    public var address: HostAddress
    /// The client's name, by which the host's weight and cap for it are configured.
    public var name: String
    /// The shared secret (TCP needs it; on a Unix socket it is optional and opens shared pools).
    public var secret: [UInt8]?
    /// Connections into the one session: callers spread over them (each pipelines up to 256 requests).
    public var connections: Int
    /// How long a request may wait for its reply: after it, a put is refused (`.unreachable`) and a get
    /// fails with a retryable error. Never forever.
    public var timeoutNanoseconds: UInt64
    /// How long connecting may take.
    public var connectTimeoutNanoseconds: UInt64
    /// The least time between two attempts to reconnect after the host went away.
    public var reconnectIntervalNanoseconds: UInt64
    /// Compress pages with LZ4 before sending them (the host keeps them as they came), and accept
    /// compressed pages in get replies: less on the wire and less work for the host.
    public var compressPages: Bool

    public init(
        address: HostAddress, name: String = "tmem-\(getpid())", secret: [UInt8]? = nil, connections: Int = 1,
        timeoutNanoseconds: UInt64 = 1_000_000_000, connectTimeoutNanoseconds: UInt64 = 2_000_000_000,
        reconnectIntervalNanoseconds: UInt64 = 500_000_000, compressPages: Bool = true
    ) {
        self.address = address
        self.name = name
        self.secret = secret
        self.connections = connections
        self.timeoutNanoseconds = timeoutNanoseconds
        self.connectTimeoutNanoseconds = connectTimeoutNanoseconds
        self.reconnectIntervalNanoseconds = reconnectIntervalNanoseconds
        self.compressPages = compressPages
    }
}
