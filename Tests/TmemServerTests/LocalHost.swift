import Glibc
import Logging
import NIOCore
import Tmem
import TmemHost
import TmemRemote
import TmemServer
import TmemSwapFile
import TmemWire

/// A real tmemd server, in this process, on a Unix socket in a temporary directory and a TCP port the
/// kernel picked on loopback, with a fresh random secret: what the tests talk to.
final class LocalHost: Sendable {
    let server: HostServer
    let directory: TemporaryDirectory
    let secret: [UInt8]
    let tcp: HostAddress
    let unix: HostAddress

    init(capacity: Int = 64 << 20, clients: [String: ClientPolicy] = [:], drainTimeoutNanoseconds: UInt64 = 10_000_000_000,
         tickNanoseconds: UInt64 = 1_000_000_000) throws {
        directory = TemporaryDirectory(prefix: "tmem-host-test")
        var rng = SystemRandomNumberGenerator()
        secret = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let path = directory.file("tmemd.sock")
        let host = try Host(configuration: HostConfiguration(capacity: .bytes(capacity), clients: clients))
        let me = getuid()
        var logger = Logger(label: "tmemd-test")
        logger.logLevel = .warning
        server = HostServer(
            host: host,
            configuration: ServerConfiguration(
                tcp: ("127.0.0.1", 0), unixPath: path,
                access: AccessPolicy(secret: secret, allowedUIDs: [0, me], adminUIDs: [0, me]), threads: 2,
                drainTimeoutNanoseconds: drainTimeoutNanoseconds, tickNanoseconds: tickNanoseconds),
            logger: logger)
        let addresses = try server.start()
        guard let port = addresses.first?.port else { throw EndpointError("the TCP listener has no port") }
        tcp = .tcp(host: "127.0.0.1", port: port)
        unix = .unix(path: path)
    }

    var host: Host { server.host }

    /// A client over `transport` (`.tcp` proves the secret; `.unix` by uid, with the secret too unless
    /// told otherwise). Its requests wait 30 s by default: on a shared 2-core machine whole processes
    /// stall for seconds now and then, and only tests about timeouts should see one.
    func client(
        _ transport: Transport = .unix(peerUID: nil), name: String = "test", withSecret: Bool = true, connections: Int = 1,
        timeoutNanoseconds: UInt64 = 30_000_000_000, compressPages: Bool = true
    ) throws -> RemoteBackend {
        let address = transport == .tcp ? tcp : unix
        return try RemoteBackend(configuration: RemoteConfiguration(
            address: address, name: name, secret: withSecret ? secret : nil, connections: connections,
            timeoutNanoseconds: timeoutNanoseconds, compressPages: compressPages))
    }

    func stop() { server.stopNow() }
}

/// A remote backend with its own host: the shape the backend contract wants (a fresh backend of a given
/// capacity), where the capacity is the host's (set through the host, as an admin would).
final class HostedBackend: Backend {
    let local: LocalHost
    let remote: RemoteBackend

    init(capacity: Int, transport: Transport = .unix(peerUID: nil)) throws {
        local = try LocalHost(capacity: capacity)
        remote = try local.client(transport)
    }

    deinit {
        remote.close()
        local.stop()
    }

    func createPool(_ kind: PoolKind) throws(TmemError) -> PoolID { try remote.createPool(kind) }
    func destroyPool(_ pool: PoolID) { remote.destroyPool(pool) }
    func createSharedPool(_ uuid: PoolUUID) throws(TmemError) -> PoolID? { try remote.createSharedPool(uuid) }
    func flushPool(_ pool: PoolID) -> Bool { remote.flushPool(pool) }
    func putCharged(_ key: Key, page: UnsafeRawBufferPointer) -> (result: PutResult, storedBytesDelta: Int) {
        remote.putCharged(key, page: page)
    }
    func get(_ key: Key, into page: UnsafeMutableRawBufferPointer) throws(TmemError) -> Bool { try remote.get(key, into: page) }
    func flushPage(_ key: Key) -> Bool { remote.flushPage(key) }
    func flushObject(pool: PoolID, object: ObjectID) -> Int { remote.flushObject(pool: pool, object: object) }
    func putBatch(_ keys: UnsafeBufferPointer<Key>, pages: UnsafeBufferPointer<UnsafeRawPointer>, results: UnsafeMutableBufferPointer<PutResult>) {
        remote.putBatch(keys, pages: pages, results: results)
    }
    func getBatch(_ keys: UnsafeBufferPointer<Key>, into pages: UnsafeBufferPointer<UnsafeMutableRawPointer>, results: UnsafeMutableBufferPointer<GetResult>) {
        remote.getBatch(keys, into: pages, results: results)
    }
    func flushBatch(_ keys: UnsafeBufferPointer<Key>) -> Int { remote.flushBatch(keys) }
    func usage(of pool: PoolID) -> PoolUsage? { remote.usage(of: pool) }
    var capacity: Int { local.host.capacityBytes }
    func setCapacity(_ bytes: Int) throws(TmemError) { try remote.configureHost("capacity=\(bytes)") }
    var namedStatistics: [(name: String, value: Int)] { remote.namedStatistics }
}
