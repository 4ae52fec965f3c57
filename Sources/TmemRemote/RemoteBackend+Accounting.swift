import Tmem

extension RemoteBackend {
    /// The host's pool is not counted here (ask the host: `tmem stat --host`); the client knows only
    /// that the pool exists.
    public func usage(of pool: PoolID) -> PoolUsage? { hasPool(pool) ? PoolUsage() : nil }

    /// The host decides its own size: `Int.max` here.
    public var capacity: Int { Int.max }

    /// Always throws: a host decides its own capacity (`tmemd --capacity`, or `CONFIGURE`).
    public func setCapacity(_ bytes: Int) throws(TmemError) {
        throw .invalidArgument("a remote host decides its own capacity (tmemd --capacity)")
    }

    /// The client's counters: puts, refusals, gets, hits, misses, timeouts, `lost_pages`, reconnects,
    /// sessions lost, shrink notices.
    public var namedStatistics: [(name: String, value: Int)] { counters.named }

    /// The value of one counter of ``namedStatistics`` (0 for an unknown name).
    public func statistic(_ name: String) -> Int { counters.named.first { $0.name == name }?.value ?? 0 }

    /// The host's shrink notice in force: the most persistent pages this client may keep, or nil.
    public var shrinkTarget: Int? {
        let target = session.shrinkTarget.load(ordering: .acquiring)
        return target < 0 ? nil : target
    }
}
