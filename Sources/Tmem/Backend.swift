/// A transcendent-memory backend: a store of pages in pools, named by keys, of unknown and changing size.
///
/// This is the contract of SEMANTICS.md ("Transcendent memory"), which every backend (the RAM pool,
/// Zcache, the remote client of `tmemd`) implements and frontends (frontswap, cleancache, paging) rely on:
///
/// - Any put may be refused, for any reason, at any time: ``put(_:page:)`` returns ``PutResult``.
/// - Persistent pool: after a successful put, every get of that key returns exactly those bytes until the
///   key is flushed or overwritten. Ephemeral pool: a get may miss at any time, but never returns bytes
///   older than the last put or flush of that key.
/// - A put over an existing key either succeeds and replaces the data, or is refused and the old data
///   is flushed. Stale data is never returned.
///
/// All methods are synchronous and may be called from any thread at once; the caller waits for each.
/// Implementations are expected not to allocate per page on put/get/flush (a reference backend may).
///
/// A caller must not put or get the same key from two threads at once without ordering them: the
/// backend keeps each operation atomic, but the order of two racing puts of one key is unspecified.
/// Frontends serialise per key (frontswap per slot).
public protocol Backend: AnyObject, Sendable {
    /// Creates an empty pool.
    ///
    /// - Parameter kind: Persistent (frontswap) or ephemeral (cleancache).
    /// - Returns: The new pool's id, unique among the backend's live pools.
    /// - Throws: ``TmemError`` when the backend cannot create more pools.
    func createPool(_ kind: PoolKind) throws(TmemError) -> PoolID

    /// Destroys a pool and every page it holds. Later operations on the pool refuse or miss.
    /// Destroying an unknown pool does nothing.
    ///
    /// - Parameter pool: The pool to destroy.
    func destroyPool(_ pool: PoolID)

    /// Offers a page to the backend, which may keep a copy or refuse it.
    ///
    /// - Parameters:
    ///   - key: The page's name.
    ///   - page: Exactly ``pageSize`` bytes; the backend copies them before returning.
    /// - Returns: `.stored`, or `.refused(reason)`; after a refusal the backend holds nothing under `key`.
    func put(_ key: Key, page: UnsafeRawBufferPointer) -> PutResult

    /// Copies a page out of the backend; the backend keeps its copy (gets are non-destructive).
    ///
    /// - Parameters:
    ///   - key: The page's name.
    ///   - page: Exactly ``pageSize`` bytes to fill.
    /// - Returns: true if `page` now holds the key's bytes; false on a miss (untouched bytes are undefined).
    /// - Throws: ``TmemError`` if the backend detects that its copy is damaged (a corrupt compressed object,
    ///   a failed checksum): damaged data is never returned as a page.
    func get(_ key: Key, into page: UnsafeMutableRawBufferPointer) throws(TmemError) -> Bool

    /// Drops one page (mirrors tmem's `flush_page`).
    ///
    /// - Parameter key: The page's name.
    /// - Returns: true if the backend held the page.
    @discardableResult
    func flushPage(_ key: Key) -> Bool

    /// Drops every page of one object (mirrors tmem's `flush_object`).
    ///
    /// - Parameters:
    ///   - pool: The pool holding the object.
    ///   - object: The object whose pages to drop.
    /// - Returns: The number of pages dropped.
    @discardableResult
    func flushObject(pool: PoolID, object: ObjectID) -> Int
}
