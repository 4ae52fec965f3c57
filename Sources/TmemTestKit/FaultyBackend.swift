import Synchronization
import Tmem

/// A backend that wraps another and misbehaves on demand, for faults a real backend cannot be made to
/// show at will: refusing puts by a rule, reporting stored pages as damaged, failing gets as a remote
/// host would (unreachable now, or lost after a restart), or forgetting pages it accepted.
///
/// Every other operation, batches and reclaim included, goes to the wrapped backend, so the wrapper is
/// as visible to frontends as the real one (a frontend must never need to downcast).
public final class FaultyBackend: Backend {
    /// The backend that does the real work.
    public let inner: any Backend
    private let refuseRule: Mutex<(@Sendable (Key) -> RefusalReason?)?>
    private let getRule = Mutex<(@Sendable (Key) -> TmemError?)?>(nil)
    private let corruptKeys = Mutex<Set<Key>>([])

    /// Wraps a backend.
    ///
    /// - Parameters:
    ///   - inner: The backend to pass operations to.
    ///   - refuse: Decides, per put, whether to refuse and why (nil: pass the put on).
    public init(wrapping inner: any Backend, refuse: (@Sendable (Key) -> RefusalReason?)? = nil) {
        self.inner = inner
        self.refuseRule = Mutex(refuse)
    }

    /// Replaces the refusal rule.
    public func setRefusalRule(_ rule: (@Sendable (Key) -> RefusalReason?)?) {
        refuseRule.withLock { $0 = rule }
    }

    /// Makes gets fail: for each key, the rule returns the error to throw (nil: pass the get on). Use
    /// ``TmemError/unavailable(_:)`` for a host that does not answer, ``TmemError/lost(_:)`` for one that
    /// restarted.
    public func setGetFailureRule(_ rule: (@Sendable (Key) -> TmemError?)?) {
        getRule.withLock { $0 = rule }
    }

    /// Makes later gets of `key` throw a corrupt-page error (until it is put or flushed again).
    public func corrupt(_ key: Key) {
        _ = corruptKeys.withLock { $0.insert(key) }
    }

    /// Drops a page from the wrapped backend behind its frontend's back (a backend that loses a page it
    /// accepted, which the contract forbids: for testing that the frontend reports it instead of trapping).
    public func forget(_ key: Key) {
        inner.flushPage(key)
    }

    public func createPool(_ kind: PoolKind) throws(TmemError) -> PoolID { try inner.createPool(kind) }
    public func destroyPool(_ pool: PoolID) { inner.destroyPool(pool) }
    public func createSharedPool(_ uuid: PoolUUID) throws(TmemError) -> PoolID? { try inner.createSharedPool(uuid) }
    public func flushPool(_ pool: PoolID) -> Bool { inner.flushPool(pool) }

    public func putCharged(_ key: Key, page: UnsafeRawBufferPointer) -> (result: PutResult, storedBytesDelta: Int) {
        _ = corruptKeys.withLock { $0.remove(key) }
        if let reason = refuseRule.withLock({ $0?(key) }) {
            let held = inner.usage(of: key.pool)?.storedBytes ?? 0
            inner.flushPage(key)
            return (.refused(reason), (inner.usage(of: key.pool)?.storedBytes ?? 0) - held)
        }
        return inner.putCharged(key, page: page)
    }

    public func get(_ key: Key, into page: UnsafeMutableRawBufferPointer) throws(TmemError) -> Bool {
        if let error = getRule.withLock({ $0?(key) }) { throw error }
        if corruptKeys.withLock({ $0.contains(key) }) {
            throw .corruptPage("injected corruption of \(key)")
        }
        return try inner.get(key, into: page)
    }

    @discardableResult
    public func flushPage(_ key: Key) -> Bool {
        _ = corruptKeys.withLock { $0.remove(key) }
        return inner.flushPage(key)
    }

    @discardableResult
    public func flushObject(pool: PoolID, object: ObjectID) -> Int { inner.flushObject(pool: pool, object: object) }

    public func usage(of pool: PoolID) -> PoolUsage? { inner.usage(of: pool) }
    public var capacity: Int { inner.capacity }
    public func setCapacity(_ bytes: Int) throws(TmemError) { try inner.setCapacity(bytes) }
    public var namedStatistics: [(name: String, value: Int)] { inner.namedStatistics }
    public var writebackWanted: Int { inner.writebackWanted }
    public func coldestKeys(limit: Int) -> [Key] { inner.coldestKeys(limit: limit) }
    public func didWriteBack(_ key: Key) { inner.didWriteBack(key) }
    public var shrinkTarget: Int? { inner.shrinkTarget }
    public func performMaintenance() -> Bool { inner.performMaintenance() }
}
