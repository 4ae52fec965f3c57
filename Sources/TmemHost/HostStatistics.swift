import Tmem

/// A snapshot of the host: its totals and one row per session (STATS, `tmem stat`, metrics).
///
/// Byte counts: *original* is 4096 per page; *compressed* (stored) is what the pages take as stored;
/// *used* is what the host charges for them (stored plus the metadata charge per page), the unit of
/// capacity, shares and caps; *memory* is what the store really spends (allocator spans and tables,
/// page tables), which includes fragmentation.
public struct HostStatistics: Sendable, Equatable {
    /// The capacity now, in charged bytes.
    public var capacityBytes = 0
    /// How it is set (`bytes`, `percentOfRAM`, `auto`).
    public var capacitySetting: CapacitySetting = .bytes(0)
    /// Charged bytes of every page held.
    public var usedBytes = 0
    /// Stored bytes of every page held.
    public var storedBytes = 0
    /// What the store spends in memory now.
    public var memoryBytes = 0
    /// Pages held.
    public var pages = 0
    /// Persistent pages held (what a drain waits for).
    public var persistentPages = 0
    /// Ephemeral pages held, shared pools' included.
    public var ephemeralPages = 0
    /// Ephemeral pages dropped to make room, since the host started.
    public var evictedPages = 0
    /// Ephemeral pages held without a copy of their own (identical to another key's page; 0 unless
    /// the host deduplicates, `tmemd --deduplicate-ephemeral`), and the stored bytes that saves.
    public var deduplicatedPages = 0
    public var dedupSavedBytes = 0
    /// Whether the host is draining (every persistent put refused).
    public var draining = false
    /// The account of shared pools.
    public var shared = SharedStatistics()
    /// Cleancache's counters over every session since the host started (ended sessions' included), and
    /// the ephemeral pools open now.
    public var cleancache = CleancacheStatistics()
    /// One row per open session, by session id.
    public var clients: [ClientStatistics] = []

    /// Creates empty statistics.
    public init() {}
}

/// One session's row. Weight, cap and share are its client's (every session of one name shares them).
public struct ClientStatistics: Sendable, Equatable {
    /// The client's name.
    public var name = ""
    /// The session's id.
    public var session: UInt64 = 0
    /// Pools open in the session (shared pools included).
    public var pools = 0
    /// Pages of the session's private pools.
    public var storedPages = 0
    /// Among them, persistent pages (what a shrink notice's target counts).
    public var persistentPages = 0
    /// Their original bytes (4096 per page).
    public var originalBytes = 0
    /// Their stored (compressed) bytes.
    public var compressedBytes = 0
    /// What they are charged: stored bytes plus the metadata charge per page.
    public var usedBytes = 0
    /// The client's weight.
    public var weight = 1
    /// The client's cap in charged bytes (nil: none).
    public var cap: Int?
    /// The client's weighted share of the capacity now, in charged bytes (what it would get if every
    /// client refused for room since the last tick wanted without limit).
    public var share = 0
    /// The session's refused puts by status.
    public var refusals = RefusalCounts()
    /// Ephemeral pages of the session's private pools the host evicted.
    public var evictedPages = 0
    /// Shrink notices sent to the session.
    public var shrinkNotices = 0
    /// The target of the notice it has not yet complied with (0 for every session while draining).
    public var shrinkTargetPages: Int?
    /// What the session did with its ephemeral pools (private and shared), and how many it has open.
    public var cleancache = CleancacheStatistics()

    /// Creates an empty row.
    public init() {}
}

/// The shared pools' account (``ClientPolicy/sharedClient``).
public struct SharedStatistics: Sendable, Equatable {
    /// Shared pools open.
    public var pools = 0
    /// Pages they hold.
    public var pages = 0
    /// Their stored bytes.
    public var storedBytes = 0
    /// Their charged bytes.
    public var usedBytes = 0
    /// The account's weight.
    public var weight = 1
    /// The account's cap (nil: none).
    public var cap: Int?
    /// The account's weighted share now.
    public var share = 0
    /// Pages evicted from shared pools.
    public var evictedPages = 0

    /// Creates an empty row.
    public init() {}
}

extension Host {
    /// A snapshot of the host's totals and of every session (each meter read once, not all at one instant).
    ///
    /// - Complexity: O(sessions + clients log clients) under the state lock.
    public func statistics() -> HostStatistics {
        let memory = store.footprintBytes
        let evicted = ephemeral.evictedPages
        let deduplication = configuration.deduplicateEphemeral ? store.statistics : nil
        return state.withLock { st in
            var s = HostStatistics()
            s.capacityBytes = st.capacity
            s.capacitySetting = st.setting
            s.persistentPages = persistent.pages
            s.ephemeralPages = ephemeral.pages
            s.pages = s.persistentPages + s.ephemeralPages
            s.storedBytes = persistent.storedBytes + ephemeral.storedBytes
            s.usedBytes = configuration.pageChargeBytes(storedBytes: s.storedBytes, pages: s.pages)
            s.memoryBytes = memory
            s.evictedPages = evicted
            s.deduplicatedPages = deduplication?.deduplicatedPages ?? 0
            s.dedupSavedBytes = deduplication?.dedupSavedBytes ?? 0
            s.draining = st.draining
            s.cleancache = cleancache.statistics(evictedPages: evicted)
            s.cleancache.pools = st.sharedPools.count
            let shares = self.shares(st, contender: nil)
            let sharedPolicy = st.accounts[ClientPolicy.sharedClient]?.policy ?? st.policy(of: ClientPolicy.sharedClient)
            s.shared.pools = st.sharedPools.count
            s.shared.weight = sharedPolicy.weight
            s.shared.cap = sharedPolicy.cap
            if let account = st.accounts[ClientPolicy.sharedClient] {
                s.shared.pages = account.ephemeral.pages
                s.shared.storedBytes = account.ephemeral.storedBytes
                s.shared.usedBytes = account.used(configuration)
                s.shared.share = shares[account.name] ?? 0
                s.shared.evictedPages = account.ephemeral.evictedPages
            }
            for id in st.sessions.keys.sorted() {
                guard let owner = st.sessions[id] else { continue }
                let policy = st.accounts[owner.session.name]?.policy ?? st.policy(of: owner.session.name)
                var row = ClientStatistics()
                row.name = owner.session.name
                row.session = id
                row.pools = owner.pools.count
                row.persistentPages = owner.persistent.pages
                row.storedPages = row.persistentPages + owner.ephemeral.pages
                row.originalBytes = row.storedPages * pageSize
                row.compressedBytes = owner.persistent.storedBytes + owner.ephemeral.storedBytes
                row.usedBytes = configuration.pageChargeBytes(storedBytes: row.compressedBytes, pages: row.storedPages)
                row.weight = policy.weight
                row.cap = policy.cap
                row.share = shares[owner.session.name] ?? 0
                row.refusals = owner.refusals
                row.evictedPages = owner.ephemeral.evictedPages
                row.shrinkNotices = owner.noticesSent
                row.shrinkTargetPages = st.draining ? 0 : owner.shrink?.targetPages
                row.cleancache = owner.cleancache.statistics(evictedPages: row.evictedPages)
                row.cleancache.pools = owner.pools.values.count { $0.kind == .ephemeral }
                s.cleancache.pools += owner.pools.values.count { $0.kind == .ephemeral && $0.uuid == nil }
                s.clients.append(row)
            }
            return s
        }
    }
}
