import Tmem

extension Host {
    /// What the host holds for one of a session's pools: pages, original and stored (compressed) bytes.
    ///
    /// - Returns: nil for a pool id the session does not have (another session's ids name nothing).
    public func usage(_ session: Session, pool: UInt32) -> PoolUsage? {
        guard let entry = entry(session, pool) else { return nil }
        return store.usage(of: entry.id)
    }

    /// Ephemeral pages of the session's private pools that the host evicted (0 for an ended session).
    public func evictedPages(_ session: Session) -> Int {
        state.withLock { $0.sessions[session.id]?.ephemeral.evictedPages ?? 0 }
    }
}
