import Synchronization
import Tmem

/// One FS pool: the backend pool holding its pages now (nil after an ``Cleancache/invalidateFS(_:)``
/// that could not make a new one), how gets behave, and for a shared pool its uuid and references.
struct FSPoolState {
    var backendPool: PoolID?
    let exclusiveGets: Bool
    let shared: PoolUUID?
    /// Whether `backendPool` is the backend's shared pool of `shared` (``Backend/createSharedPool(_:)``):
    /// other processes use it too, so it is emptied in place, never replaced.
    let backendShared: Bool
    var references = 1
    /// Bumped by each ``Cleancache/invalidateFS(_:)``: a token from before names an older epoch.
    var epoch: UInt64 = 0

    init(backendPool: PoolID?, exclusiveGets: Bool, shared: PoolUUID?, backendShared: Bool = false) {
        self.backendPool = backendPool
        self.exclusiveGets = exclusiveGets
        self.shared = shared
        self.backendShared = backendShared
    }
}

/// The FS pools of a ``Cleancache`` by handle, and the shared ones by uuid (under the cleancache's
/// mutex). Handles are never reused, so a closed pool's handle names nothing ever after.
struct PoolTable {
    private var pools: [Int32: FSPoolState] = [:]
    private var byUUID: [PoolUUID: Int32] = [:]
    private var next: Int32 = 0

    /// Every backend pool held (what the cleancache gives back when it goes).
    var all: [PoolID] { pools.values.compactMap(\.backendPool) }

    func state(_ pool: FSPool) -> (backendPool: PoolID, exclusiveGets: Bool, epoch: UInt64)? {
        guard let state = pools[pool.rawValue], let id = state.backendPool else { return nil }
        return (id, state.exclusiveGets, state.epoch)
    }

    /// The pool's epoch (0 for an unknown pool).
    func epoch(_ pool: FSPool) -> UInt64 { pools[pool.rawValue]?.epoch ?? 0 }

    mutating func add(_ state: FSPoolState) -> FSPool {
        next += 1
        pools[next] = state
        return FSPool(rawValue: next)
    }

    /// A reference to the shared pool of `uuid`, if there is one.
    mutating func joinShared(_ uuid: PoolUUID) -> FSPool? {
        guard let handle = byUUID[uuid] else { return nil }
        pools[handle]!.references += 1
        return FSPool(rawValue: handle)
    }

    /// Adds a shared pool, or joins the one another caller added first.
    ///
    /// - Returns: The pool, and the backend pool to destroy when `state`'s lost the race.
    mutating func addShared(_ uuid: PoolUUID, _ state: FSPoolState) -> (FSPool, PoolID?) {
        if let existing = joinShared(uuid) { return (existing, state.backendPool) }
        let pool = add(state)
        byUUID[uuid] = pool.rawValue
        return (pool, nil)
    }

    /// Drops a reference: the backend pool to destroy when it was the last.
    mutating func release(_ pool: FSPool) -> PoolID? {
        guard var state = pools[pool.rawValue] else { return nil }
        state.references -= 1
        guard state.references == 0 else {
            pools[pool.rawValue] = state
            return nil
        }
        pools[pool.rawValue] = nil
        if let uuid = state.shared { byUUID[uuid] = nil }
        return state.backendPool
    }

    /// For a pool shared through the backend: moves its epoch on (puts in flight and tokens from before
    /// are stale from now) and tells its uuid and backend pool; nil for any other pool.
    mutating func advanceSharedEpoch(_ pool: FSPool) -> (uuid: PoolUUID, backendPool: PoolID?)? {
        guard let state = pools[pool.rawValue], state.backendShared, let uuid = state.shared else { return nil }
        pools[pool.rawValue]!.epoch &+= 1
        return (uuid, state.backendPool)
    }

    /// Points a pool that has no backend pool at `id`; false (the caller keeps `id`) when the pool is
    /// gone or has one.
    mutating func attach(_ pool: FSPool, _ id: PoolID) -> Bool {
        guard pools[pool.rawValue] != nil, pools[pool.rawValue]!.backendPool == nil else { return false }
        pools[pool.rawValue]!.backendPool = id
        return true
    }

    /// Takes `id` from the pool; false when the pool is gone or names another (whoever took it gives
    /// it back to the backend).
    mutating func detach(_ pool: FSPool, from id: PoolID) -> Bool {
        guard pools[pool.rawValue]?.backendPool == id else { return false }
        pools[pool.rawValue]!.backendPool = nil
        return true
    }

    /// Points the pool at `fresh` (or at none).
    ///
    /// - Returns: The backend pool it named before (to destroy); nil when the pool is unknown, in which
    ///   case `fresh` is the caller's to destroy.
    mutating func replace(_ pool: FSPool, with fresh: PoolID?) -> PoolID?? {
        guard let old = pools[pool.rawValue] else { return nil }
        pools[pool.rawValue]!.backendPool = fresh
        pools[pool.rawValue]!.epoch &+= 1
        return .some(old.backendPool)
    }
}

/// Cleancache's counters, under the kernel's names.
final class CleancacheCounters: Sendable {
    let succGets = Atomic<Int>(0)
    let failedGets = Atomic<Int>(0)
    let puts = Atomic<Int>(0)
    let invalidates = Atomic<Int>(0)
}

extension Cleancache {
    /// `succ_gets`, `failed_gets`, `puts`, `invalidates`, then the backend's `evicted_pages` (the
    /// ephemeral pages it dropped), as cleancache's debugfs showed them.
    public var namedStatistics: [(name: String, value: Int)] {
        let c = counters
        let evicted = backend.namedStatistics.first { $0.name == "evicted_pages" }?.value ?? 0
        return [
            ("succ_gets", c.succGets.load(ordering: .relaxed)), ("failed_gets", c.failedGets.load(ordering: .relaxed)),
            ("puts", c.puts.load(ordering: .relaxed)), ("invalidates", c.invalidates.load(ordering: .relaxed)),
            ("evicted_pages", evicted),
        ]
    }

    /// One counter of ``namedStatistics`` by name (0 for an unknown name).
    public func statistic(_ name: String) -> Int { namedStatistics.first { $0.name == name }?.value ?? 0 }
}
