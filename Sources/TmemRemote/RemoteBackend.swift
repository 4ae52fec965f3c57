import NIOCore
import Synchronization
import Tmem
import TmemCompression
import TmemWire

/// The remote backend: a synchronous ``Backend`` whose pages live in a `tmemd` host's RAM (Xen tmem's
/// guest side, RAMster's client), reached over the wire protocol of docs/PROTOCOL.md.
///
/// - **Synchronous and bounded.** Frontswap, paging and `tmem replay` call it on their own threads;
///   each call sends one request (a batch is one BATCH frame) and waits for its reply at most
///   ``RemoteConfiguration/timeoutNanoseconds``: then a put is refused with `.unreachable` (frontswap
///   writes the page to its swap file) and a get fails with a retryable error. It never hangs forever.
/// - **Pipelined.** Many threads share each connection (replies are matched by request id).
/// - **Honest about loss.** The host frees a session's pools when its last connection closes (a host
///   that died, or a network that failed). The backend notices (the session's epoch moves on) and from
///   then on a get of a page stored before fails with ``TmemError/lost(_:)`` (counted in `lost_pages`)
///   instead of missing quietly; it never returns another page's or an older page's bytes. It then
///   reconnects into a new session and recreates its pools as they are used again.
/// - **Shrink notices** from the host appear as ``shrinkTarget``, which a frontend's reclaimer honours by
///   repatriating pages to its swap file.
/// - **Shared pools** (``createSharedPool(_:)``): the host's ephemeral pools named by a uuid, which every
///   session that proved the host's secret may join, so that processes see each other's pages.
public final class RemoteBackend: Backend {
    struct PoolRecord {
        let kind: PoolKind
        /// The uuid of a shared pool (joined again by name in a new session), nil for a private one.
        var uuid: PoolUUID? = nil
        var hostPool: UInt32
        /// The session epoch `hostPool` belongs to.
        var epoch: UInt64
        /// True once a session holding pages of this pool ended: a miss may be a lost page.
        var lostPages: Bool
    }

    public let configuration: RemoteConfiguration
    let session: RemoteSession
    let counters = RemoteCounters()
    let pools = Mutex<[UInt32: PoolRecord]>([:])
    let nextPool = Atomic<UInt32>(1)
    /// The shared pools held, by uuid: the pool's id and the references ``createSharedPool(_:)`` gave out.
    /// Held across the CREATE_POOL and DESTROY_POOL round trips of shared pools, so that the host sees
    /// one session's joins and leaves of a uuid in the order they were made. Lock ordering: this, then
    /// `pools`.
    let sharedPools = Mutex<[PoolUUID: (pool: UInt32, references: Int)]>([:])
    private let compressors: CompressorPool

    /// Connects to the host and opens a session.
    ///
    /// - Throws: ``TmemError``: retryable when the host cannot be reached, invalid argument when it
    ///   refused the credentials.
    public init(configuration: RemoteConfiguration) throws(TmemError) {
        guard Hello.isValidName(configuration.name) else {
            throw .invalidArgument("a client name is 1 to 64 of A-Z a-z 0-9 . _ -, not '\(configuration.name)'")
        }
        self.configuration = configuration
        session = RemoteSession(configuration: configuration, counters: counters)
        do {
            compressors = try CompressorPool(algorithm: .lz4, level: nil, count: 8)
            _ = try session.connection()
        } catch let error as TmemError {
            session.shutdown()
            throw error
        } catch {
            session.shutdown()
            throw .invalidArgument("cannot make the LZ4 compressors: \(error)")
        }
    }

    deinit { session.shutdown() }

    /// Closes the session now (the host frees its pools); later calls reconnect into a new session.
    public func close() { session.shutdown() }

    // MARK: Pools

    public func createPool(_ kind: PoolKind) throws(TmemError) -> PoolID {
        let (connection, epoch) = try session.connection()
        let hostPool = try createHostPool(kind, on: connection)
        let id = nextPool.wrappingAdd(1, ordering: .relaxed).oldValue
        pools.withLock { $0[id] = PoolRecord(kind: kind, hostPool: hostPool, epoch: epoch, lostPages: false) }
        return PoolID(rawValue: id)
    }

    /// CREATE_POOL: a private pool of `kind`, or the shared pool of `uuid` (ephemeral).
    func createHostPool(_ kind: PoolKind, uuid: PoolUUID? = nil, on connection: RemoteConnection) throws(TmemError) -> UInt32 {
        let reply = try answer(connection.request(deadline: deadline()) { buffer, id in
            if let uuid {
                uuid.bytes.withUnsafeBytes { buffer.writeFrame(FrameHeader(op: .createPool, flags: [.ephemeral, .shared], requestID: id), payload: $0) }
            } else {
                buffer.writeFrame(FrameHeader(op: .createPool, flags: kind == .ephemeral ? .ephemeral : [], requestID: id))
            }
        })
        switch reply.header.status {
        case .ok: return reply.header.pool
        case .notAllowed where uuid != nil:
            throw .invalidArgument("the host opens shared pools only to sessions that proved its secret (--secret-file)")
        case .tooManyPools: throw .tooManyPools("the host holds as many pools of this client as it allows")
        default: throw .unavailable("the host did not create a pool: \(reply.header.status)")
        }
    }

    public func destroyPool(_ pool: PoolID) {
        if record(pool)?.uuid != nil { return leaveSharedPool(pool) }
        guard let record = pools.withLock({ $0.removeValue(forKey: pool.rawValue) }),
            let (connection, epoch) = try? session.connection(), record.epoch == epoch
        else { return }
        connection.send { $0.writeFrame(FrameHeader(op: .destroyPool, flags: .quiet, pool: record.hostPool)) }
    }

    /// The host pool to use for `pool` in the current session: for a put, one made anew when the session
    /// that held the old one ended (its pages are gone); for the rest, nil then.
    func hostPool(_ pool: PoolID, epoch: UInt64, connection: RemoteConnection, forPut: Bool)
        -> (record: PoolRecord, current: Bool)?
    {
        guard let record = pools.withLock({ $0[pool.rawValue] }) else { return nil }
        if record.epoch == epoch { return (record, true) }
        guard forPut, let fresh = try? createHostPool(record.kind, uuid: record.uuid, on: connection) else { return (record, false) }
        let updated = pools.withLock { table -> PoolRecord? in
            guard var current = table[pool.rawValue] else { return nil }
            if current.epoch != epoch {
                current = PoolRecord(kind: current.kind, uuid: current.uuid, hostPool: fresh, epoch: epoch, lostPages: true)
                table[pool.rawValue] = current
            }
            return current
        }
        return updated.map { ($0, true) }
    }

    // MARK: Pages

    public func putCharged(_ key: Key, page: UnsafeRawBufferPointer) -> (result: PutResult, storedBytesDelta: Int) {
        precondition(page.count == pageSize, "a page is \(pageSize) bytes")
        counters.puts.add(1, ordering: .relaxed)
        guard let (connection, epoch) = try? session.connection() else { return (unreachable(), 0) }
        guard let (record, current) = hostPool(key.pool, epoch: epoch, connection: connection, forPut: true), current
        else { return (.refused(.noSuchPool), 0) }
        let header = FrameHeader(op: .put, pool: record.hostPool, object: key.object.rawValue, index: key.index.rawValue)
        let outcome = connection.request(deadline: deadline()) { buffer, id in
            var request = header
            request.requestID = id
            writePage(page, header: request, into: &buffer)
        }
        guard case .reply(let reply) = outcome else {
            // The host may still store it later: a flush behind it, on the same connection, keeps the
            // contract that a refused put leaves nothing under its key.
            connection.send { $0.writeFrame(FrameHeader(op: .flushPage, flags: .quiet, pool: header.pool, object: header.object, index: header.index)) }
            if case .timedOut = outcome { counters.timeouts.add(1, ordering: .relaxed) }
            return (unreachable(), 0)
        }
        let result = Self.putResult(reply.header.status)
        if case .stored = result { counters.storedPuts.add(1, ordering: .relaxed) } else {
            counters.refusedByHost.add(1, ordering: .relaxed)
        }
        return (result, 0)
    }

    /// Appends a PUT (or a BATCH entry) of `page`: LZ4-compressed when that makes it smaller.
    func writePage(_ page: UnsafeRawBufferPointer, header: FrameHeader, into buffer: inout ByteBuffer, entry: Bool = false) {
        let compressed: Int? = configuration.compressPages ? compressors.with { slot in
            guard let length = slot.compressor.compress(page, into: UnsafeMutableRawBufferPointer(rebasing: slot.scratch[0..<(pageSize - 64)]))
            else { return nil }
            let block = UnsafeRawBufferPointer(rebasing: slot.scratch[0..<length])
            if entry {
                buffer.writeBatchEntry(op: .put, flags: .compressed, object: header.object, index: header.index, payload: block)
            } else {
                var request = header
                request.flags.insert(.compressed)
                buffer.writeFrame(request, payload: block)
            }
            return length
        } : nil
        if compressed != nil {
            counters.compressedPuts.add(1, ordering: .relaxed)
            return
        }
        if entry {
            buffer.writeBatchEntry(op: .put, object: header.object, index: header.index, payload: page)
        } else {
            buffer.writeFrame(header, payload: page)
        }
    }

    public func get(_ key: Key, into page: UnsafeMutableRawBufferPointer) throws(TmemError) -> Bool {
        precondition(page.count == pageSize, "a page is \(pageSize) bytes")
        counters.gets.add(1, ordering: .relaxed)
        // A pool of a session that ended lost its pages whether or not the host can be reached now: say
        // so at once, rather than fail retryably while the host is down (a retry could only learn the same).
        if let record = record(key.pool), record.epoch != session.epoch { return try missing(key, record.kind) }
        let (connection, epoch) = try session.connection()
        guard let (record, current) = hostPool(key.pool, epoch: epoch, connection: connection, forPut: false) else {
            return false
        }
        guard current else { return try missing(key, record.kind) }
        let outcome = connection.request(deadline: deadline()) { buffer, id in
            buffer.writeFrame(FrameHeader(
                op: .get, flags: configuration.compressPages ? .compressed : [], requestID: id, pool: record.hostPool,
                object: key.object.rawValue, index: key.index.rawValue))
        }
        let reply: Frame
        do throws(TmemError) {
            reply = try answer(outcome)
        } catch {
            // A connection that died with the session took the page with it.
            if !error.isRetryable || session.epoch == epoch { throw error }
            return try missing(key, record.kind)
        }
        switch reply.header.status {
        case .ok:
            try copyPage(reply.payload, checksum: reply.header.checksum, compressed: reply.header.flags.contains(.compressed), of: key, into: page)
            counters.hits.add(1, ordering: .relaxed)
            return true
        case .miss, .noSuchPool:
            return try missed(key, record)
        case .damaged:
            counters.damagedPages.add(1, ordering: .relaxed)
            throw .corruptPage("the host's copy of \(key) is damaged")
        default:
            throw .unavailable("the host did not return \(key): \(reply.header.status)")
        }
    }

    /// What the host's miss means: a lost page in a persistent pool that lost a session, else a miss.
    func missed(_ key: Key, _ record: PoolRecord) throws(TmemError) -> Bool {
        if record.lostPages && record.kind == .persistent { return try missing(key, record.kind) }
        counters.misses.add(1, ordering: .relaxed)
        return false
    }

    /// The record of one of this backend's pools.
    func record(_ pool: PoolID) -> PoolRecord? { pools.withLock { $0[pool.rawValue] } }

    /// A page of a pool whose session ended: lost if the pool is persistent, a plain miss if ephemeral.
    private func missing(_ key: Key, _ kind: PoolKind) throws(TmemError) -> Bool {
        guard kind == .persistent else {
            counters.misses.add(1, ordering: .relaxed)
            return false
        }
        counters.lostPages.add(1, ordering: .relaxed)
        throw .lost("the host's session that held \(key) ended (the host restarted or the connection failed); the page is gone")
    }

    /// Checks and expands a page that came back from the host.
    func copyPage(_ payload: ByteBuffer, checksum: UInt32, compressed: Bool, of key: Key, into page: UnsafeMutableRawBufferPointer) throws(TmemError) {
        guard payload.matches(checksum: checksum) else {
            counters.damagedPages.add(1, ordering: .relaxed)
            throw .corruptPage("the host's reply for \(key) fails its checksum")
        }
        try payload.withUnsafeReadableBytes { (bytes) throws(TmemError) in
            if !compressed {
                guard bytes.count == pageSize else { throw .corruptPage("the host returned \(bytes.count) bytes for \(key)") }
                page.copyMemory(from: bytes)
                return
            }
            try compressors.with { (slot) throws(TmemError) in
                do throws(CompressionError) {
                    try slot.compressor.decompress(bytes, into: page)
                } catch {
                    counters.damagedPages.add(1, ordering: .relaxed)
                    throw .corruptPage("the host's compressed copy of \(key) does not expand: \(error.message)")
                }
            }
        }
    }

    @discardableResult
    public func flushPage(_ key: Key) -> Bool {
        counters.flushes.add(1, ordering: .relaxed)
        guard let (connection, epoch) = try? session.connection(),
            let (record, current) = hostPool(key.pool, epoch: epoch, connection: connection, forPut: false), current,
            let reply = try? answer(connection.request(deadline: deadline()) { buffer, id in
                buffer.writeFrame(FrameHeader(op: .flushPage, requestID: id, pool: record.hostPool, object: key.object.rawValue, index: key.index.rawValue))
            })
        else { return false }
        return reply.header.status == .ok && reply.header.index == 1
    }

    @discardableResult
    public func flushObject(pool: PoolID, object: ObjectID) -> Int {
        guard let (connection, epoch) = try? session.connection(),
            let (record, current) = hostPool(pool, epoch: epoch, connection: connection, forPut: false), current,
            let reply = try? answer(connection.request(deadline: deadline()) { buffer, id in
                buffer.writeFrame(FrameHeader(op: .flushObject, requestID: id, pool: record.hostPool, object: object.rawValue))
            })
        else { return 0 }
        return reply.header.status == .ok ? Int(reply.header.index) : 0
    }

    // MARK: Helpers

    func hasPool(_ pool: PoolID) -> Bool { pools.withLock { $0[pool.rawValue] != nil } }

    /// Some live pool of this backend (the host's per-session counters are read through one).
    var firstPool: PoolID? { pools.withLock { $0.keys.min().map { PoolID(rawValue: $0) } } }

    func deadline() -> UInt64 { monotonicNanoseconds() + configuration.timeoutNanoseconds }

    private func unreachable() -> PutResult {
        counters.refusedUnreachable.add(1, ordering: .relaxed)
        return .refused(.unreachable)
    }

    /// The reply frame, or the error a caller reports for its absence.
    func answer(_ outcome: ReplySlot.Outcome) throws(TmemError) -> Frame {
        switch outcome {
        case .reply(let frame): return frame
        case .timedOut:
            counters.timeouts.add(1, ordering: .relaxed)
            throw .unavailable("the host did not answer within \(configuration.timeoutNanoseconds / 1_000_000) ms")
        case .connectionLost(let reason): throw .unavailable("the connection to the host failed: \(reason)")
        }
    }

    /// What a put's status means to a frontend.
    static func putResult(_ status: WireStatus) -> PutResult {
        switch status {
        case .ok: .stored
        case .refusedCapacity: .refused(.capacity)
        case .refusedInvalidated: .refused(.invalidated)
        case .refusedIncompressible: .refused(.compressPoor)
        case .noSuchPool: .refused(.noSuchPool)
        case .unavailable: .refused(.unreachable)
        default: .refused(.policy)
        }
    }
}
