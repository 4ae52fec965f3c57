import Synchronization
import Tmem

/// A backend that wraps another and misbehaves on demand, for faults a real backend cannot be made to
/// show at will: refusing puts by a rule, or reporting stored pages as damaged.
public final class FaultyBackend: Backend {
    /// The backend that does the real work.
    public let inner: any Backend
    private let refuseRule: Mutex<(@Sendable (Key) -> RefusalReason?)?>
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

    /// Makes later gets of `key` throw a corrupt-page error (until it is put or flushed again).
    public func corrupt(_ key: Key) {
        _ = corruptKeys.withLock { $0.insert(key) }
    }

    public func createPool(_ kind: PoolKind) throws(TmemError) -> PoolID { try inner.createPool(kind) }
    public func destroyPool(_ pool: PoolID) { inner.destroyPool(pool) }

    public func put(_ key: Key, page: UnsafeRawBufferPointer) -> PutResult {
        _ = corruptKeys.withLock { $0.remove(key) }
        if let reason = refuseRule.withLock({ $0?(key) }) {
            inner.flushPage(key)
            return .refused(reason)
        }
        return inner.put(key, page: page)
    }

    public func get(_ key: Key, into page: UnsafeMutableRawBufferPointer) throws(TmemError) -> Bool {
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
}
