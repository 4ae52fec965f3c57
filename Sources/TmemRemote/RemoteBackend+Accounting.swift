import NIOCore
import Tmem
import TmemWire

extension RemoteBackend {
    /// The host's count of the pool (one USAGE round trip): nil for a pool this backend does not have;
    /// empty when the host cannot be asked now, or when the session that held the pool ended.
    public func usage(of pool: PoolID) -> PoolUsage? { hostUsage(of: pool)?.usage }

    /// USAGE for one pool: its usage and the session's evicted ephemeral pages.
    func hostUsage(of pool: PoolID) -> (usage: PoolUsage, evicted: Int)? {
        guard hasPool(pool) else { return nil }
        guard let (connection, epoch) = try? session.connection(),
            let (record, current) = hostPool(pool, epoch: epoch, connection: connection, forPut: false), current,
            let reply = try? answer(connection.request(deadline: deadline()) { buffer, id in
                buffer.writeFrame(FrameHeader(op: .usage, requestID: id, pool: record.hostPool))
            }), reply.header.status == .ok
        else { return (PoolUsage(), 0) }
        var payload = reply.payload
        let values = (0..<4).map { _ in Int(clamping: payload.readInteger(endianness: .little, as: UInt64.self) ?? 0) }
        return (PoolUsage(pages: values[0], originalBytes: values[1], storedBytes: values[2]), values[3])
    }

    /// The host decides its own size: `Int.max` here.
    public var capacity: Int { Int.max }

    /// Always throws: a host decides its own capacity (`tmemd --capacity`, or `CONFIGURE`).
    public func setCapacity(_ bytes: Int) throws(TmemError) {
        throw .invalidArgument("a remote host decides its own capacity (tmemd --capacity)")
    }

    /// The client's counters: puts, refusals, gets, hits, misses, timeouts, `lost_pages`, reconnects,
    /// sessions lost, shrink notices.
    public var namedStatistics: [(name: String, value: Int)] {
        let evicted = firstPool.flatMap { hostUsage(of: $0)?.evicted } ?? 0
        return counters.named + [("evicted_pages", evicted)]
    }

    /// The value of one counter of ``namedStatistics`` (0 for an unknown name).
    public func statistic(_ name: String) -> Int { counters.named.first { $0.name == name }?.value ?? 0 }

    /// The host's shrink notice in force: the most persistent pages this client may keep, or nil. A
    /// notice is in force until its deadline: a host that still needs the room sends it again (each
    /// tick after the deadline), one that no longer does lets it lapse, so the client may grow again.
    public var shrinkTarget: Int? {
        let target = session.shrinkTarget.load(ordering: .acquiring)
        guard target >= 0, monotonicNanoseconds() <= session.shrinkDeadline.load(ordering: .relaxed) else { return nil }
        return target
    }
}

extension RemoteBackend {
    /// The host's STATS: a JSON object with the host's totals and one entry per session
    /// (docs/PROTOCOL.md, "Stats").
    ///
    /// - Throws: ``TmemError`` retryable when the host does not answer.
    public func hostStatisticsJSON() throws(TmemError) -> String {
        let (connection, _) = try session.connection()
        let reply = try answer(connection.request(deadline: deadline()) { buffer, id in
            buffer.writeFrame(FrameHeader(op: .stats, requestID: id))
        })
        guard reply.header.status == .ok else { throw .unavailable("the host refused STATS: \(reply.header.status)") }
        return String(buffer: reply.payload)
    }

    /// Sends CONFIGURE (an admin session's: a Unix socket, as root or the host's own user).
    ///
    /// - Parameter text: `capacity=SIZE` or `NAME:weight=W,cap=SIZE`.
    /// - Throws: ``TmemError``: invalid argument when the host refused it (not allowed, or malformed).
    public func configureHost(_ text: String) throws(TmemError) {
        let (connection, _) = try session.connection()
        let reply = try answer(connection.request(deadline: deadline()) { buffer, id in
            var payload = ByteBuffer(string: text)
            buffer.writeFrame(FrameHeader(op: .configure, requestID: id), payload: payload)
            payload.clear()
        })
        guard reply.header.status == .ok else { throw .invalidArgument("the host refused '\(text)': \(reply.header.status)") }
    }
}
