import Tmem
import TmemWire

/// The host's shared pools (docs/PROTOCOL.md, CREATE_POOL with SHARED; SEMANTICS.md, "The host"): ephemeral
/// pools named by a 128-bit uuid, one per uuid on the host, which every session that proved the host's
/// secret may join. Their pages are charged to the host's shared account, not to the client; gets are
/// never exclusive. Through them, cleancache's `init_shared_fs` (``Backend/createSharedPool(_:)``) spans
/// processes and machines.
///
/// The host gives a session one id per uuid, however often it opens it, and one DESTROY_POOL closes it; so
/// this backend counts its own references per uuid and closes the host's pool with the last.
extension RemoteBackend {
    /// Makes or joins the host's shared pool of `uuid` (CREATE_POOL with SHARED, one round trip unless this
    /// backend holds it already). After a reconnection the pool is joined again by name when next put to:
    /// the pages other sessions put stay, those of this session's put meanwhile may be gone (it is
    /// ephemeral).
    ///
    /// - Parameter uuid: The pool's name.
    /// - Returns: The pool's id in this backend: the same for every call with `uuid` while one reference
    ///   is held (``destroyPool(_:)`` gives one back).
    /// - Throws: ``TmemError``: invalid argument when the session did not prove the host's secret (a Unix
    ///   socket client needs the secret too for shared pools), too many pools, unavailable when the host
    ///   cannot be reached or did not answer.
    public func createSharedPool(_ uuid: PoolUUID) throws(TmemError) -> PoolID? {
        try sharedPools.withLock { (table) throws(TmemError) -> PoolID? in
            if let held = table[uuid] {
                table[uuid] = (held.pool, held.references + 1)
                return PoolID(rawValue: held.pool)
            }
            let (connection, epoch) = try session.connection()
            let hostPool = try createHostPool(.ephemeral, uuid: uuid, on: connection)
            let id = nextPool.wrappingAdd(1, ordering: .relaxed).oldValue
            pools.withLock {
                $0[id] = PoolRecord(kind: .ephemeral, uuid: uuid, hostPool: hostPool, epoch: epoch, lostPages: false)
            }
            table[uuid] = (id, 1)
            return PoolID(rawValue: id)
        }
    }

    /// ``destroyPool(_:)`` of a shared pool: drops a reference, and with the last closes the host's pool for
    /// this session (its pages stay for the other sessions), waiting for the host's answer so that a later
    /// join of the uuid, on any connection, comes after it.
    func leaveSharedPool(_ pool: PoolID) {
        sharedPools.withLock { table in
            guard let uuid = record(pool)?.uuid, let held = table[uuid], held.pool == pool.rawValue else { return }
            guard held.references == 1 else {
                table[uuid] = (held.pool, held.references - 1)
                return
            }
            table[uuid] = nil
            guard let record = pools.withLock({ $0.removeValue(forKey: pool.rawValue) }),
                let (connection, epoch) = try? session.connection(), record.epoch == epoch
            else { return }
            _ = try? answer(connection.request(deadline: deadline()) { buffer, id in
                buffer.writeFrame(FrameHeader(op: .destroyPool, requestID: id, pool: record.hostPool))
            })
        }
    }

    /// Drops every page of a pool, which stays open (FLUSH_POOL, one round trip): for a shared pool in every
    /// session that has it open, the others' pages too.
    ///
    /// - Returns: true once the host emptied it, or for a private pool of a session that ended (its pages
    ///   went with it); false for a pool this backend does not have, or when the host cannot be reached or
    ///   did not answer (a shared pool may then keep its pages).
    public func flushPool(_ pool: PoolID) -> Bool {
        guard let shared = record(pool).map({ $0.uuid != nil }), let (connection, epoch) = try? session.connection(),
            // A shared pool outlives this session on the host: join it again to empty it.
            let (record, current) = hostPool(pool, epoch: epoch, connection: connection, forPut: shared)
        else { return false }
        guard current else { return !shared }
        guard let reply = try? answer(connection.request(deadline: deadline()) { buffer, id in
            buffer.writeFrame(FrameHeader(op: .flushPool, requestID: id, pool: record.hostPool))
        }) else { return false }
        return reply.header.status == .ok
    }
}
