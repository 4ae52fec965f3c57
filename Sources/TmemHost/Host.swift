import Synchronization
import Tmem
import TmemZcache

/// The host daemon's state and policy (tmemd without its sockets): sessions, their pools, and the decision
/// on every put, over one compressed store (a ``Zcache`` with LZ4) shared by every client.
///
/// SEMANTICS.md ("The host") is the contract; the server maps wire frames (docs/PROTOCOL.md) to these
/// calls, and returns their ``HostStatus`` as the reply's status. What the host adds to the store:
///
/// - **Isolation.** A pool id is a per-session handle (1, 2, 3... in the order the session made its
///   pools), mapped to a store pool in the session's own table. An id not in the table is
///   ``HostStatus/noSuchPool`` and touches nothing, so no session can reach another's pages (Xen's
///   XSA-15). Shared pools are ephemeral, named by a 128-bit uuid, open only to sessions that proved the
///   host's secret, and live while any session has them open.
/// - **Accounting** per client *name*: every session of one name shares one account, so a client that
///   opens several sessions (or reconnects) does not multiply its share. Pages of shared pools are charged
///   to one account of their own, ``ClientPolicy/sharedClient``, with its own policy: no client pays for
///   pages another put, and the shared pools together compete for memory like one client. A page is
///   charged its stored (compressed) bytes plus a fixed metadata charge
///   (``HostConfiguration/pageChargeBytes(storedBytes:pages:)``); capacity, shares and caps all count in
///   these charged bytes. The totals are the store's meters (``UsageMeter``), exact at every moment.
/// - **Policy on a put**, in this order: a session that has not complied with its shrink notice (or any,
///   while the host drains) is refused persistent puts (``HostStatus/refusedShrinking``); a client at its
///   cap is refused (``HostStatus/refusedCap``); when the host is full, a client at or above its weighted
///   share is refused (``HostStatus/refusedShare``), and one below gets room by eviction of ephemeral pages
///   of the client furthest above its share, least recently used first (``HostStatus/refusedCapacity``
///   when there are none). Every refusal flushes the key (a refused put never leaves an old page behind)
///   and is counted by session and status.
/// - **Persistent pages are never dropped by the host.** Memory comes back from them by shrink notices
///   (``tick(nowNanoseconds:)``), which the clients answer by repatriating pages.
/// - **Capacity** is fixed, a percent of RAM, or follows the machine (``AutoCapacity``).
///
/// Thread safety: every method may be called from any thread at once (the server's event loops). The
/// host has no thread of its own: the server calls ``tick(nowNanoseconds:)`` about once a second.
///
/// ## Implementation Notes
/// - One lock, `state`, guards the tables (sessions, pools, accounts, shared pools) and the reservations;
///   it is held only for table lookups and the policy arithmetic, never across compression or a flush.
///   A put takes it twice: to be admitted (reserving one page's charge, the most a put can add, on its
///   account and the host) and to settle. Reservations count as used, so puts racing on many threads
///   never pass a cap or the capacity together: a cap is exact to within one page (a put is refused when
///   less than a page's charge is left).
/// - Shares are divided (``weightedShares(capacity:demands:)``) only when the host is full: a put's own
///   account then counts as wanting without limit, as does every account refused for room since the
///   last tick; the others want what they hold.
/// - The store's own limit is only a backstop for the allocator's overhead (a quarter above the capacity
///   plus 64 MiB, never below what it holds): the host refuses and evicts before the store would.
/// - **Lock ordering:** `state` → the store's locks (pools are created under `state`); the store never
///   calls back.
///
/// ## Caveats
/// - Eviction takes a chunk (up to 64 neighbouring pages of one object) at a time, so a client's usage
///   settles within a chunk of its share, not a page.
/// - Fragmentation beyond the backstop makes the store refuse (and drop ephemeral pages in its own order)
///   before the host's charged bytes reach the capacity; ``tick(nowNanoseconds:)`` compacts to keep it rare.
/// - Shrink targets are pages, computed from an account's average charge per persistent page: a client
///   that repatriates its best-compressing pages first may need a second notice.
public final class Host: Sendable {
    let configuration: HostConfiguration
    let memory: MemoryProbe
    /// The one store of every client's pages.
    let store: Zcache
    let state: Mutex<HostState>
    /// Host-wide meters: every persistent and every ephemeral pool carries one.
    let persistent = UsageMeter()
    let ephemeral = UsageMeter()
    /// Cleancache's counters over every session since the host started (each session has its own too).
    let cleancache = CleancacheMeter()
    /// The capacity, readable without the lock (written under it).
    let capacityNow: Atomic<Int>

    /// Eviction rounds a put may ask for (each drops one chunk) before it is refused for capacity: a few,
    /// so a put stays short; a chunk usually frees room for many puts.
    static let evictionRoundsPerPut = 8
    /// Eviction rounds (16 chunks each) one tick may run to get under the capacity and caps.
    static let evictionRoundsPerTick = 4096
    /// Compaction steps one tick may run (each about 1/8 of a pass).
    static let compactionStepsPerTick = 8

    /// Creates a host with an empty store.
    ///
    /// - Parameters:
    ///   - configuration: Capacity, policies, limits.
    ///   - memory: Where the machine's memory figures come from (for `percentOfRAM` and `auto`).
    /// - Throws: ``HostError``: an invalid configuration, memory figures that cannot be read when the
    ///   capacity needs them, or a store whose arena cannot be reserved.
    public init(configuration: HostConfiguration, memory: MemoryProbe = .system) throws(HostError) {
        try configuration.validate()
        let capacity = try Self.resolve(configuration.capacity, current: 0, held: 0, memory, configuration.autoTuning)
        do {
            store = try Zcache(
                configuration: ZcacheConfiguration(
                    compressor: .lz4, level: configuration.lz4Acceleration, limit: Self.storeLimit(capacity: capacity, footprint: 0),
                    acceptThresholdPercent: 100, writebackHighPercent: 100,
                    poorCompressionPolicy: configuration.poorCompressionPolicy,
                    deduplicateEphemeral: configuration.deduplicateEphemeral))
        } catch {
            throw .storage("cannot set up the host's page store: \(error.message)")
        }
        self.configuration = configuration
        self.memory = memory
        capacityNow = Atomic(capacity)
        state = Mutex(
            HostState(
                policies: configuration.clients, defaultPolicy: configuration.defaultPolicy,
                setting: configuration.capacity, capacity: capacity))
    }

    // MARK: Sessions

    /// Opens a session for a client the server has authenticated (WELCOME).
    ///
    /// - Parameters:
    ///   - name: The client's name from HELLO (1 to 64 bytes of `A-Za-z0-9._-`; the server checked it):
    ///     its account and policy.
    ///   - secretAuthenticated: Whether it proved the host's secret (may use shared pools).
    ///   - isAdmin: Whether it may run admin operations.
    /// - Returns: The session, with a fresh id and a random token.
    /// - Precondition: `name` is a valid client name (``ClientPolicy/isValidClientName(_:)``) other than
    ///   ``ClientPolicy/sharedClient``.
    public func openSession(name: String, secretAuthenticated: Bool, isAdmin: Bool) -> Session {
        precondition(
            ClientPolicy.isValidClientName(name) && name != ClientPolicy.sharedClient, "'\(name)' is not a client name")
        return state.withLock { st in
            let id = st.nextSessionID
            st.nextSessionID += 1
            let session = Session(
                id: id, token: .random(), name: name, secretAuthenticated: secretAuthenticated, isAdmin: isAdmin)
            st.sessions[id] = SessionState(session: session)
            st.ensureAccount(name)
            st.accounts[name]?.sessions += 1
            return session
        }
    }

    /// The open session a JOIN names.
    ///
    /// - Parameters:
    ///   - id: The session id from the WELCOME.
    ///   - token: The token the joining connection presents; compared in constant time.
    /// - Returns: The session, or nil if no open session has this id and token.
    public func session(id: UInt64, token: SessionToken) -> Session? {
        state.withLock { st in
            guard let session = st.sessions[id]?.session, session.token == token else { return nil }
            return session
        }
    }

    /// Ends a session (its last connection closed): its private pools are destroyed, with their pages,
    /// and its shared pools closed (destroyed when no other session has them open). Idempotent.
    ///
    /// - Parameter session: The session.
    /// - Complexity: One store pool destruction per pool: O(the store's chunks) each.
    public func closeSession(_ session: Session) {
        let doomed: [PoolID] = state.withLock { st in
            guard let ended = st.sessions.removeValue(forKey: session.id) else { return [] }
            st.accounts[session.name]?.sessions -= 1
            return ended.pools.values.compactMap { release($0, of: session, &st) }
        }
        for pool in doomed { store.destroyPool(pool) }
        state.withLock { $0.removeIdleAccounts() }
    }

    // MARK: Configuration

    /// Sets the policy of a client name, at once for its sessions' next puts (a lowered cap or weight
    /// brings shrink notices at the next tick if the client then holds too much).
    ///
    /// - Parameters:
    ///   - name: A client name, or ``ClientPolicy/sharedClient`` for the shared pools' account.
    ///   - policy: Its weight and cap.
    public func configure(client name: String, policy: ClientPolicy) {
        state.withLock { st in
            st.policies[name] = policy
            st.accounts[name]?.policy = policy
        }
    }

    /// Applies a CONFIGURE request's text: `NAME:weight=W,cap=SIZE` (the parts left out keep the
    /// client's current values) or `capacity=SIZE` (any form ``CapacitySetting/parse(_:)`` reads).
    /// CONFIGURE is an admin op: the server checks ``Session/isAdmin`` before it calls this.
    ///
    /// - Parameter text: The request's payload.
    /// - Throws: ``HostError`` (invalid setting) saying what is wrong; nothing changes then.
    public func configure(_ text: String) throws(HostError) {
        if text.hasPrefix("capacity=") {
            try setCapacity(CapacitySetting.parse(String(text.dropFirst(9))))
            return
        }
        let name = String(text.prefix { $0 != ":" })
        let current = state.withLock { $0.policy(of: name) }
        let (parsed, policy) = try ClientPolicy.parse(text, over: current)
        configure(client: parsed, policy: policy)
    }

    /// Changes the capacity. Puts see the new value at once; when it is below what the host holds, the
    /// next tick evicts ephemeral pages (furthest above share first) and sends shrink notices for the
    /// rest. Persistent pages are never dropped.
    ///
    /// - Parameter setting: The new setting; `auto` is evaluated now, without hysteresis.
    /// - Throws: ``HostError``: an invalid setting, or memory figures that cannot be read.
    public func setCapacity(_ setting: CapacitySetting) throws(HostError) {
        try setting.validate()
        let held = usedBytes
        let capacity = try Self.resolve(setting, current: 0, held: held, memory, configuration.autoTuning)
        state.withLock { st in
            st.setting = setting
            st.capacity = capacity
            capacityNow.store(capacity, ordering: .relaxed)
        }
        // Lowered below what is held: ephemeral pages go now, not at the next tick (persistent ones are
        // asked for by the tick's shrink notices).
        reclaimEphemeral()
        updateStoreLimit()
    }

    /// The capacity now, in charged bytes.
    public var capacityBytes: Int { capacityNow.load(ordering: .relaxed) }

    /// What every client holds, in charged bytes.
    var usedBytes: Int {
        configuration.pageChargeBytes(
            storedBytes: persistent.storedBytes + ephemeral.storedBytes, pages: persistent.pages + ephemeral.pages)
    }

    /// The bytes a setting means now.
    static func resolve(
        _ setting: CapacitySetting, current: Int, held: Int, _ memory: MemoryProbe, _ tuning: AutoCapacityTuning
    ) throws(HostError) -> Int {
        switch setting {
        case .bytes(let bytes):
            return bytes
        case .percentOfRAM(let percent):
            guard let snapshot = memory.snapshot() else {
                throw .memoryUnavailable("cannot read MemTotal for a capacity of \(percent)% of RAM")
            }
            return Int(multiplying: snapshot.totalBytes, by: percent, dividingBy: 100)
        case .auto(let floor):
            guard let snapshot = memory.snapshot() else {
                throw .memoryUnavailable("cannot read MemTotal and MemAvailable for an automatic capacity")
            }
            return AutoCapacity.evaluate(current: current, held: held, memory: snapshot, floor: floor, tuning: tuning)
        }
    }

    /// The store's own limit: a quarter above the capacity plus 64 MiB for the allocator's overhead, and
    /// never below what the store holds now plus 16 MiB (a limit below it would make the store refuse and
    /// drop ephemeral pages in its own order, not the host's).
    static func storeLimit(capacity: Int, footprint: Int) -> Int {
        let (quarter, o1) = capacity.addingReportingOverflow(capacity / 4)
        let (backstop, o2) = quarter.addingReportingOverflow(64 << 20)
        return o1 || o2 ? Int.max / 2 : max(backstop, footprint + (16 << 20))
    }

    func updateStoreLimit() {
        try? store.setCapacity(Self.storeLimit(capacity: capacityBytes, footprint: store.footprintBytes))
    }

    /// Takes a pool out of the tables (state lock held).
    ///
    /// - Returns: The store pool to destroy (outside the lock), or nil for a shared pool still open elsewhere.
    func release(_ entry: PoolEntry, of session: Session, _ st: inout HostState) -> PoolID? {
        guard let uuid = entry.uuid else {
            st.accounts[session.name]?.remove(entry.id, entry.kind)
            return entry.id
        }
        st.sharedPools[uuid]?.openers.remove(session.id)
        guard st.sharedPools[uuid]?.openers.isEmpty == true else { return nil }
        st.sharedPools[uuid] = nil
        st.accounts[ClientPolicy.sharedClient]?.remove(entry.id, .ephemeral)
        return entry.id
    }
}
