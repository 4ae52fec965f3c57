import Tmem
import TmemZcache

extension Host {
    /// Creates a pool for a session (CREATE_POOL).
    ///
    /// A private pool is the session's alone and is destroyed with it. A shared pool (`sharedUUID` given)
    /// is ephemeral whatever `ephemeral` says, charged to the shared account, and reached by every session
    /// that opens the same uuid; opening it twice in one session gives the same id.
    ///
    /// - Parameters:
    ///   - session: The session.
    ///   - ephemeral: Whether the pool is ephemeral (cleancache) or persistent (frontswap).
    ///   - sharedUUID: The uuid of a shared pool, or nil for a private one.
    /// - Returns: `.ok` and the pool's id in this session (from 1); or 0 with ``HostStatus/notAllowed`` (a
    ///   shared pool for a session that did not prove the secret, or a closed session) or
    ///   ``HostStatus/tooManyPools`` (the session, or the store, holds as many pools as it may).
    public func createPool(_ session: Session, ephemeral: Bool, sharedUUID: PoolUUID?) -> (status: HostStatus, pool: UInt32) {
        if sharedUUID != nil, !session.secretAuthenticated { return (.notAllowed, 0) }
        return state.withLock { st -> (status: HostStatus, pool: UInt32) in
            guard var owner = st.sessions[session.id] else { return (.notAllowed, 0) }
            if let uuid = sharedUUID, let open = owner.pools.first(where: { $0.value.uuid == uuid }) {
                return (.ok, open.key)
            }
            guard owner.pools.count < configuration.maxPoolsPerSession else { return (.tooManyPools, 0) }
            let entry: PoolEntry
            if let uuid = sharedUUID {
                guard let id = openShared(uuid, &st) else { return (.tooManyPools, 0) }
                st.sharedPools[uuid]?.openers.insert(session.id)
                entry = PoolEntry(id: id, kind: .ephemeral, uuid: uuid)
            } else {
                let kind: PoolKind = ephemeral ? .ephemeral : .persistent
                guard let id = newPrivatePool(kind, of: owner, &st) else { return (.tooManyPools, 0) }
                entry = PoolEntry(id: id, kind: kind, uuid: nil)
            }
            let handle = owner.newHandle()
            owner.pools[handle] = entry
            st.sessions[session.id] = owner
            return (.ok, handle)
        }
    }

    /// The store pool of a shared uuid, made (charged to the shared account) if no session has it open.
    private func openShared(_ uuid: PoolUUID, _ st: inout HostState) -> PoolID? {
        if let open = st.sharedPools[uuid] { return open.id }
        guard let id = newSharedPool(&st) else { return nil }
        st.sharedPools[uuid] = SharedPool(id: id)
        return id
    }

    /// A new store pool for one of a session's private pools, carrying the session's, its account's and
    /// the host's meters, and counted on the account.
    private func newPrivatePool(_ kind: PoolKind, of owner: SessionState, _ st: inout HostState) -> PoolID? {
        let name = owner.session.name
        st.ensureAccount(name)
        guard let account = st.accounts[name],
            let id = try? store.createPool(kind, meters: [owner.meter(kind), account.meter(kind), meter(kind)])
        else { return nil }
        st.accounts[name]?.add(id, kind)
        return id
    }

    /// A new store pool for a shared pool, charged to the shared account.
    private func newSharedPool(_ st: inout HostState) -> PoolID? {
        let name = ClientPolicy.sharedClient
        st.ensureAccount(name)
        guard let account = st.accounts[name], let id = try? store.createPool(.ephemeral, meters: [account.ephemeral, ephemeral])
        else { return nil }
        st.accounts[name]?.add(id, .ephemeral)
        return id
    }

    /// Drops every page of one of a session's pools, which stays open under the same id (FLUSH_POOL,
    /// cleancache's `invalidate_fs`). For a shared pool that is every session's view of it: after the
    /// call no session's get returns a page put before it.
    ///
    /// How: the pool's store pool is replaced by a fresh one (with the same meters), in every table that
    /// names it, and the old one destroyed with its pages. A put admitted before the swap lands in the
    /// old pool and goes with it (or, landing after, is refused for want of a pool); a get that looked
    /// the pool up before either returns its page before the flush or misses.
    ///
    /// - Parameters:
    ///   - session: The session.
    ///   - pool: The pool's id in this session.
    /// - Returns: `.ok` and the pages dropped; ``HostStatus/noSuchPool`` (touching nothing) for an id the
    ///   session does not have; ``HostStatus/tooManyPools`` when the store has no room for the fresh pool
    ///   (the pool keeps its pages then).
    /// - Complexity: O(the store's chunks), as a pool's destruction; O(sessions) for a shared pool.
    public func flushPool(_ session: Session, pool: UInt32) -> (status: HostStatus, dropped: Int) {
        let outcome: (status: HostStatus, old: PoolID?, meter: CleancacheMeter?) = state.withLock { st in
            guard let owner = st.sessions[session.id], let entry = owner.pools[pool] else { return (.noSuchPool, nil, nil) }
            let meter = entry.kind == .ephemeral ? owner.cleancache : nil
            guard let uuid = entry.uuid else {
                guard let fresh = newPrivatePool(entry.kind, of: owner, &st) else { return (.tooManyPools, nil, meter) }
                st.accounts[session.name]?.remove(entry.id, entry.kind)
                st.sessions[session.id]?.pools[pool] = PoolEntry(id: fresh, kind: entry.kind, uuid: nil)
                return (.ok, entry.id, meter)
            }
            guard let fresh = newSharedPool(&st), let openers = st.sharedPools[uuid]?.openers else {
                return (.tooManyPools, nil, meter)
            }
            st.accounts[ClientPolicy.sharedClient]?.remove(entry.id, .ephemeral)
            st.sharedPools[uuid] = SharedPool(id: fresh, openers: openers)
            for id in openers {
                guard let handle = st.sessions[id]?.pools.first(where: { $0.value.uuid == uuid })?.key else { continue }
                st.sessions[id]?.pools[handle] = PoolEntry(id: fresh, kind: .ephemeral, uuid: uuid)
            }
            return (.ok, entry.id, meter)
        }
        if let meter = outcome.meter { countInvalidate(meter) }
        guard let old = outcome.old else { return (outcome.status, 0) }
        let dropped = store.usage(of: old)?.pages ?? 0
        store.destroyPool(old)
        return (.ok, dropped)
    }

    /// Destroys one of a session's pools with its pages (DESTROY_POOL); a shared pool is closed for this
    /// session, and destroyed when no other session has it open.
    ///
    /// - Parameters:
    ///   - session: The session.
    ///   - pool: The pool's id in this session.
    /// - Returns: `.ok`, or ``HostStatus/noSuchPool`` (touching nothing) for an id the session does not
    ///   have; the server answers DESTROY_POOL with ok either way (docs/PROTOCOL.md).
    /// - Complexity: O(the store's chunks) when the pool is destroyed.
    public func destroyPool(_ session: Session, pool: UInt32) -> HostStatus {
        let outcome: (found: Bool, doomed: PoolID?) = state.withLock { st in
            guard let entry = st.sessions[session.id]?.pools.removeValue(forKey: pool) else { return (false, nil) }
            return (true, release(entry, of: session, &st))
        }
        guard outcome.found else { return .noSuchPool }
        if let doomed = outcome.doomed { store.destroyPool(doomed) }
        return .ok
    }

    /// The host-wide meter of one kind of pool.
    func meter(_ kind: PoolKind) -> UsageMeter { kind == .persistent ? persistent : ephemeral }

    /// The store pool a session's pool id names, or nil (state lock taken).
    func entry(_ session: Session, _ pool: UInt32) -> PoolEntry? {
        state.withLock { $0.sessions[session.id]?.pools[pool] }
    }

    /// The store pool a session's pool id names, and the session's cleancache counters when the pool is
    /// ephemeral; nil for an id the session does not have (state lock taken).
    func lookup(_ session: Session, _ pool: UInt32) -> (entry: PoolEntry, cleancache: CleancacheMeter?)? {
        state.withLock { st in
            guard let owner = st.sessions[session.id], let entry = owner.pools[pool] else { return nil }
            return (entry, entry.kind == .ephemeral ? owner.cleancache : nil)
        }
    }
}
