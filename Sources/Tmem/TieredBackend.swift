import Synchronization

/// Two backends as tiers: every put goes to `upper` first (compressed RAM) and, if it refuses, to
/// `lower` (a host's RAM); when `upper` wants pages back (``Backend/writebackWanted``), its coldest
/// pages are *demoted* to `lower` before any goes to a frontend's disk. Only what `lower` refuses is
/// handed to the frontend's writeback (the swap file last).
///
/// Each key lives in exactly one tier. Operations on one key are serialised on the key's stripe lock,
/// which demotion holds across its read from `upper`, its put to `lower` and its flush from `upper`,
/// so a put racing a demotion is never undone by it and a get never sees an older copy.
///
/// While `lower` has a shrink notice in force (``Backend/shrinkTarget``), nothing is demoted, the
/// frontends are asked to keep `lower`'s target plus what `upper` holds, and ``coldestKeys(limit:)``
/// offers `lower`'s pages first, so that repatriation frees the host's memory.
///
/// It shares no pools beyond its caller (``Backend/createSharedPool(_:)`` is nil, even over a host):
/// pages held by `upper` would be invisible to the pool's other users, and not flushed by theirs.
public final class TieredBackend: Backend {
    public let upper: any Backend
    public let lower: any Backend

    private struct PoolPair: Sendable {
        let kind: PoolKind
        let upper: PoolID
        /// nil when `lower` could not make one (it was unreachable): such a pool has one tier.
        let lower: PoolID?
    }

    /// Keys held by `lower`, by stripe.
    private static let stripeCount = 64
    private let demoted = MutexArray<Set<Key>>(count: TieredBackend.stripeCount) { [] }
    private let pools = Mutex<[UInt32: PoolPair]>([:])
    private let byUpperPool = Mutex<[UInt32: UInt32]>([:])
    private let nextPool = Atomic<UInt32>(1)
    private let demotedPages = Atomic<Int>(0)
    private let demotionRefusals = Atomic<Int>(0)

    public init(upper: any Backend, lower: any Backend) {
        self.upper = upper
        self.lower = lower
    }

    private func stripe(_ key: Key) -> Int {
        var hasher = Hasher()
        hasher.combine(key)
        return Int(UInt(bitPattern: hasher.finalize()) % UInt(Self.stripeCount))
    }

    private func pair(_ pool: PoolID) -> PoolPair? { pools.withLock { $0[pool.rawValue] } }

    private func upperKey(_ key: Key, _ pair: PoolPair) -> Key { Key(pool: pair.upper, object: key.object, index: key.index) }
    private func lowerKey(_ key: Key, _ pool: PoolID) -> Key { Key(pool: pool, object: key.object, index: key.index) }

    // MARK: Pools

    public func createPool(_ kind: PoolKind) throws(TmemError) -> PoolID {
        let upperPool = try upper.createPool(kind)
        let lowerPool = try? lower.createPool(kind)
        let id = nextPool.wrappingAdd(1, ordering: .relaxed).oldValue
        pools.withLock { $0[id] = PoolPair(kind: kind, upper: upperPool, lower: lowerPool) }
        byUpperPool.withLock { $0[upperPool.rawValue] = id }
        return PoolID(rawValue: id)
    }

    public func destroyPool(_ pool: PoolID) {
        guard let pair = pools.withLock({ $0.removeValue(forKey: pool.rawValue) }) else { return }
        byUpperPool.withLock { _ = $0.removeValue(forKey: pair.upper.rawValue) }
        upper.destroyPool(pair.upper)
        if let lowerPool = pair.lower { lower.destroyPool(lowerPool) }
        for i in 0..<Self.stripeCount { demoted.withLock(i) { set in set = set.filter { $0.pool != pool } } }
    }

    // MARK: Pages

    public func putCharged(_ key: Key, page: UnsafeRawBufferPointer) -> (result: PutResult, storedBytesDelta: Int) {
        guard let pair = pair(key.pool) else { return (.refused(.noSuchPool), 0) }
        return demoted.withLock(stripe(key)) { set in
            let (result, delta) = upper.putCharged(upperKey(key, pair), page: page)
            let wasLower = set.remove(key) != nil
            if case .stored = result {
                if wasLower, let lowerPool = pair.lower { lower.flushPage(lowerKey(key, lowerPool)) }
                return (result, delta)
            }
            // Refused by the upper tier: the lower one (which replaces or flushes its old copy).
            guard let lowerPool = pair.lower else { return (result, delta) }
            let second = lower.put(lowerKey(key, lowerPool), page: page)
            if case .stored = second { set.insert(key) }
            return (second, delta)
        }
    }

    public func get(_ key: Key, into page: UnsafeMutableRawBufferPointer) throws(TmemError) -> Bool {
        guard let pair = pair(key.pool) else { return false }
        return try demoted.withLock(stripe(key)) { (set: inout Set<Key>) throws(TmemError) -> Bool in
            if set.contains(key), let lowerPool = pair.lower { return try lower.get(lowerKey(key, lowerPool), into: page) }
            return try upper.get(upperKey(key, pair), into: page)
        }
    }

    @discardableResult
    public func flushPage(_ key: Key) -> Bool {
        guard let pair = pair(key.pool) else { return false }
        return demoted.withLock(stripe(key)) { set in
            if set.remove(key) != nil, let lowerPool = pair.lower { return lower.flushPage(lowerKey(key, lowerPool)) }
            return upper.flushPage(upperKey(key, pair))
        }
    }

    @discardableResult
    public func flushObject(pool: PoolID, object: ObjectID) -> Int {
        guard let pair = pair(pool) else { return 0 }
        var dropped = upper.flushObject(pool: pair.upper, object: object)
        guard let lowerPool = pair.lower else { return dropped }
        for i in 0..<Self.stripeCount {
            demoted.withLock(i) { set in set = set.filter { !($0.pool == pool && $0.object == object) } }
        }
        dropped += lower.flushObject(pool: lowerPool, object: object)
        return dropped
    }

    // MARK: Accounting

    public func usage(of pool: PoolID) -> PoolUsage? {
        guard let pair = pair(pool), var total = upper.usage(of: pair.upper) else { return nil }
        var inLower = 0
        for i in 0..<Self.stripeCount { inLower += demoted.withLock(i) { set in set.lazy.filter { $0.pool == pool }.count } }
        total.add(PoolUsage(pages: inLower, originalBytes: inLower * pageSize))
        return total
    }

    public var capacity: Int { upper.capacity }
    public func setCapacity(_ bytes: Int) throws(TmemError) { try upper.setCapacity(bytes) }

    /// The upper tier's counters, then the lower's (prefixed `host_`), then the tiers' own.
    public var namedStatistics: [(name: String, value: Int)] {
        upper.namedStatistics + lower.namedStatistics.map { ("host_" + $0.name, $0.value) } + [
            ("demoted_pages", demotedPages.load(ordering: .relaxed)),
            ("demotion_refusals", demotionRefusals.load(ordering: .relaxed)),
        ]
    }

    // MARK: Reclaim

    public var writebackWanted: Int { upper.writebackWanted }

    public var shrinkTarget: Int? {
        guard let target = lower.shrinkTarget else { return nil }
        return target + upperPages
    }

    /// Pages held by the upper tier now (over this backend's pools).
    private var upperPages: Int {
        pools.withLock { Array($0.values) }.reduce(0) { $0 + (upper.usage(of: $1.upper)?.pages ?? 0) }
    }

    /// The keys a frontend should repatriate to its disk: normally the upper tier's coldest keys that
    /// the lower tier refused (the rest are demoted to it here); under a shrink notice, the lower tier's.
    public func coldestKeys(limit: Int) -> [Key] {
        if lower.shrinkTarget != nil { return lowerKeys(limit: limit) }
        let table = byUpperPool.withLock { $0 }
        let keys: [Key] = upper.coldestKeys(limit: limit).compactMap { key in
            table[key.pool.rawValue].map { Key(pool: PoolID(rawValue: $0), object: key.object, index: key.index) }
        }
        var byStripe: [Int: [Key]] = [:]
        for key in keys { byStripe[stripe(key), default: []].append(key) }
        var refused: [Key] = []
        for (stripe, group) in byStripe { refused += demote(group, stripe: stripe) }
        return refused
    }

    private func lowerKeys(limit: Int) -> [Key] {
        var keys: [Key] = []
        for i in 0..<Self.stripeCount where keys.count < limit {
            demoted.withLock(i) { set in keys += set.prefix(limit - keys.count) }
        }
        return keys
    }

    /// Moves keys of one stripe (all persistent, some maybe already gone) from the upper tier to the lower.
    ///
    /// - Returns: The keys the lower tier refused (still in the upper one).
    private func demote(_ keys: [Key], stripe: Int) -> [Key] {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: pageSize)
        defer { buffer.deallocate() }
        return demoted.withLock(stripe) { set in
            var refused: [Key] = []
            for key in keys {
                guard let pair = pair(key.pool), let lowerPool = pair.lower, !set.contains(key) else { continue }
                let source = upperKey(key, pair)
                guard (try? upper.get(source, into: buffer)) == true else { continue }
                guard case .stored = lower.put(lowerKey(key, lowerPool), page: UnsafeRawBufferPointer(buffer)) else {
                    demotionRefusals.add(1, ordering: .relaxed)
                    refused.append(key)
                    continue
                }
                set.insert(key)
                upper.flushPage(source)
                upper.didWriteBack(source)
                demotedPages.add(1, ordering: .relaxed)
            }
            return refused
        }
    }

    public func didWriteBack(_ key: Key) {
        guard let pair = pair(key.pool) else { return }
        upper.didWriteBack(upperKey(key, pair))
    }

    public func performMaintenance() -> Bool {
        let more = upper.performMaintenance()
        return lower.performMaintenance() || more
    }
}
