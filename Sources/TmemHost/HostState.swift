import Tmem
import TmemZcache

/// One client name's account: what its sessions hold (its meters), what it may hold (its policy), and
/// what it asked for. The shared pools' pages are charged to the account named
/// ``ClientPolicy/sharedClient``.
///
/// Guarded by the host's state lock; the meters are atomic and kept by Zcache as pages come and go.
struct Account: Sendable {
    let name: String
    var policy: ClientPolicy
    /// Pages of the account's persistent and ephemeral pools (each pool of the account carries one).
    let persistent = UsageMeter()
    let ephemeral = UsageMeter()
    /// Open sessions with this name.
    var sessions = 0
    /// Charge reserved by puts in flight (admitted, not yet settled): counted as used, so that puts racing
    /// on several threads cannot together pass a cap or the capacity by more than one page.
    var reserved = 0
    /// Whether a put was refused for want of room (share or capacity) since the last tick: the account
    /// then counts as wanting more than it holds when shares are divided.
    var wanting = false
    /// The account's live Zcache pools, and among them the ephemeral ones (where eviction takes pages).
    var pools = 0
    var ephemeralPools: [PoolID] = []

    init(name: String, policy: ClientPolicy) {
        self.name = name
        self.policy = policy
    }

    /// What the account holds, in charged bytes (without reservations).
    func used(_ configuration: HostConfiguration) -> Int {
        configuration.pageChargeBytes(
            storedBytes: persistent.storedBytes + ephemeral.storedBytes, pages: persistent.pages + ephemeral.pages)
    }

    /// Whether the account takes part in the division of the capacity: it has a session, a pool, pages
    /// or a put in flight.
    var isActive: Bool { sessions > 0 || pools > 0 || reserved > 0 || persistent.pages > 0 || ephemeral.pages > 0 }

    func meter(_ kind: PoolKind) -> UsageMeter { kind == .persistent ? persistent : ephemeral }

    mutating func add(_ pool: PoolID, _ kind: PoolKind) {
        pools += 1
        if kind == .ephemeral { ephemeralPools.append(pool) }
    }

    mutating func remove(_ pool: PoolID, _ kind: PoolKind) {
        pools -= 1
        if kind == .ephemeral { ephemeralPools.removeAll { $0 == pool } }
    }
}

/// A pool as a session names it.
struct PoolEntry: Sendable {
    /// The pool in the store.
    let id: PoolID
    let kind: PoolKind
    /// For a shared pool, its uuid (its pages are charged to the shared account).
    let uuid: PoolUUID?
}

/// A shared pool: one store pool for every session that opened its uuid; destroyed when the last closes it.
struct SharedPool: Sendable {
    let id: PoolID
    var openers: Set<UInt64> = []
}

/// A shrink notice the session has not yet complied with.
struct ShrinkState: Sendable {
    /// The most persistent pages the session may keep.
    var targetPages: Int
    /// When the host may send the notice again (CLOCK_MONOTONIC nanoseconds, the clock of `tick`).
    var deadline: UInt64
}

/// A session's own state, held by the host.
struct SessionState: Sendable {
    let session: Session
    /// Pool ids (handles) of this session: the only names its requests can use.
    var pools: [UInt32: PoolEntry] = [:]
    /// The next handle to try: handles grow from 1 and are not reused while the session lives, so a
    /// stale id names nothing rather than a newer pool.
    var nextHandle: UInt32 = 1
    /// Pages of the session's private persistent and ephemeral pools.
    let persistent = UsageMeter()
    let ephemeral = UsageMeter()
    var refusals = RefusalCounts()
    /// What the session did with its ephemeral pools (atomic: bumped without the state lock).
    let cleancache = CleancacheMeter()
    var shrink: ShrinkState?
    var noticesSent = 0

    init(session: Session) { self.session = session }

    func meter(_ kind: PoolKind) -> UsageMeter { kind == .persistent ? persistent : ephemeral }

    /// A handle for a new pool: the next one not in use (0 is never one).
    mutating func newHandle() -> UInt32 {
        while nextHandle == 0 || pools[nextHandle] != nil { nextHandle &+= 1 }
        defer { nextHandle &+= 1 }
        return nextHandle
    }
}

/// Everything the host's state lock guards.
struct HostState: Sendable {
    var sessions: [UInt64: SessionState] = [:]
    /// By client name, the shared account included once a shared pool was made.
    var accounts: [String: Account] = [:]
    var sharedPools: [PoolUUID: SharedPool] = [:]
    var nextSessionID: UInt64 = 1
    /// Policies configured by name (the configuration's, then CONFIGURE's), and everyone else's.
    var policies: [String: ClientPolicy]
    var defaultPolicy: ClientPolicy
    var setting: CapacitySetting
    var capacity: Int
    /// Charge reserved by every put in flight.
    var reserved = 0
    /// Set by `drain`: every persistent put is refused from then on.
    var draining = false
    /// The time of the last tick (the clock shrink deadlines are on).
    var lastTick: UInt64 = 0

    func policy(of name: String) -> ClientPolicy { policies[name] ?? defaultPolicy }

    /// The account of `name`, made if missing.
    mutating func ensureAccount(_ name: String) {
        if accounts[name] == nil { accounts[name] = Account(name: name, policy: policy(of: name)) }
    }

    /// Drops accounts that hold nothing and have no session, pool or put in flight.
    mutating func removeIdleAccounts() {
        for (name, account) in accounts where !account.isActive { accounts[name] = nil }
    }
}

/// Refused puts of one session, by status.
public struct RefusalCounts: Sendable, Equatable {
    private var counts = [Int](repeating: 0, count: 0x35)

    /// The statuses a put can be refused with, in the order STATS lists them.
    public static let reported: [HostStatus] = [
        .refusedCapacity, .refusedCap, .refusedShare, .refusedShrinking, .refusedInvalidated, .refusedIncompressible,
        .noSuchPool, .refused, .badRequest,
    ]

    /// Creates zero counts.
    public init() {}

    /// How many puts were refused with `status`.
    public subscript(status: HostStatus) -> Int { counts[Int(status.rawValue)] }

    /// Every refusal, whatever its reason.
    public var total: Int { counts.reduce(0, +) }

    mutating func count(_ status: HostStatus) {
        guard status != .ok else { return }
        counts[Int(status.rawValue)] += 1
    }
}
