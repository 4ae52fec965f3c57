/// A transcendent-memory backend: a store of pages in pools, named by keys, of unknown and changing size.
///
/// This is the contract of SEMANTICS.md ("Transcendent memory"), which every backend (the RAM pool,
/// Zcache, the remote client of `tmemd`) implements and frontends (frontswap, cleancache, paging) rely on:
///
/// - Any put may be refused, for any reason, at any time: ``put(_:page:)`` returns ``PutResult``.
/// - Persistent pool: after a successful put, every get of that key returns exactly those bytes until the
///   key is flushed or overwritten. Ephemeral pool: a get may miss at any time, but never returns bytes
///   older than the last put or flush of that key. A backend drops ephemeral pages (coldest first,
///   counted as `evicted_pages`) before it refuses a put for want of room; it never drops persistent ones.
/// - A put over an existing key either succeeds and replaces the data, or is refused and the old data
///   is flushed. Stale data is never returned.
/// - After ``flushObject(pool:object:)`` returns, no get returns a page put before it began, even if a
///   put of that object raced it (such a put is refused with `.invalidated`, or its page is dropped).
///
/// All methods are synchronous and may be called from any thread at once; the caller waits for each.
/// Implementations are expected not to allocate per page on put/get/flush (a reference backend may).
///
/// The protocol has five facets beside the six tmem operations, all requirements so that a wrapping
/// backend forwards them (a downcast would not see through a wrapper):
/// - shared pools (``createSharedPool(_:)``, ``flushPool(_:)``), which a backend whose users are many
///   processes (a host) offers, with defaults that offer none;
/// - batches (`putBatch`, `getBatch`, `flushBatch`), with defaults that loop, so simple backends stay
///   simple and a remote one turns a batch into one round trip;
/// - accounting: ``usage(of:)`` per pool, ``putCharged(_:page:)`` for the bytes one put costs,
///   ``capacity`` and ``setCapacity(_:)``, ``namedStatistics``;
/// - reclaim (``writebackWanted``, ``coldestKeys(limit:)``, ``didWriteBack(_:)``), by which a backend
///   asks its frontends to repatriate persistent pages (zswap's writeback), and
///   ``performMaintenance()``, its background work (compaction), run off the put path.
///
/// A caller must not put or get the same key from two threads at once without ordering them: the
/// backend keeps each operation atomic, but the order of two racing puts of one key is unspecified.
/// Frontends serialise per key (frontswap per slot).
public protocol Backend: AnyObject, Sendable {
    /// Creates an empty pool.
    ///
    /// - Parameter kind: Persistent (frontswap) or ephemeral (cleancache).
    /// - Returns: The new pool's id, unique among the backend's live pools. Ids of destroyed pools may be
    ///   reused, but not at once: a stale id names no pool for a long while (backends put a reuse
    ///   generation in the id's high bits).
    /// - Throws: ``TmemError`` (``TmemError/isTooManyPools``) when the backend holds as many live pools
    ///   as it can.
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

    /// ``put(_:page:)``, also telling what it changed in the pool's ``PoolUsage/storedBytes``: what a
    /// wrapper that enforces caps on stored (compressed) size charges or credits the pool's owner.
    ///
    /// - Returns: The outcome, and the change in stored bytes: the new copy's size minus the size of the
    ///   copy it replaced (or dropped, on a refusal); 0 when nothing changed.
    func putCharged(_ key: Key, page: UnsafeRawBufferPointer) -> (result: PutResult, storedBytesDelta: Int)

    /// Copies a page out of the backend; the backend keeps its copy (gets are non-destructive).
    ///
    /// - Parameters:
    ///   - key: The page's name.
    ///   - page: Exactly ``pageSize`` bytes to fill.
    /// - Returns: true if `page` now holds the key's bytes; false on a miss (untouched bytes are undefined).
    /// - Throws: ``TmemError``: damaged when the backend's copy fails its integrity check (damaged data is
    ///   never returned as a page), retryable when the backend cannot answer now, lost when it knows it
    ///   lost the page.
    func get(_ key: Key, into page: UnsafeMutableRawBufferPointer) throws(TmemError) -> Bool

    /// Drops one page (mirrors tmem's `flush_page`).
    ///
    /// - Parameter key: The page's name.
    /// - Returns: true if the backend held the page.
    @discardableResult
    func flushPage(_ key: Key) -> Bool

    /// Drops every page of one object (mirrors tmem's `flush_object`); a put of the object that races
    /// the flush does not survive it.
    ///
    /// - Parameters:
    ///   - pool: The pool holding the object.
    ///   - object: The object whose pages to drop.
    /// - Returns: The number of pages dropped.
    /// - Complexity: O(the object's pages), not O(the backend's).
    @discardableResult
    func flushObject(pool: PoolID, object: ObjectID) -> Int

    // MARK: Shared pools

    /// Makes or joins the ephemeral pool shared by every user of the backend naming `uuid`: other
    /// processes too (a host's shared pools, SEMANTICS.md "The host"). This is what cleancache's
    /// `init_shared_fs` reaches for; a backend that is one process's own (RAM, Zcache) has no other users
    /// and returns nil (the default), and the frontend then shares a private pool among its own callers.
    ///
    /// Calls with one uuid return the same id while it is held; each takes a reference that
    /// ``destroyPool(_:)`` gives back, and the backend leaves the shared pool with the last one (its
    /// pages stay for the other users). Pages put by any user are got by every other; a flush by any
    /// user is seen by all. Who may join, and whom the pages are charged to, is the backend's rule (a
    /// host: sessions that proved its secret; the shared pools' own account).
    ///
    /// - Parameter uuid: The pool's 128-bit name.
    /// - Returns: The pool's id, or nil when the backend shares no pools beyond its caller.
    /// - Throws: ``TmemError``: invalid argument when the backend does not let this user join (a host
    ///   session without the secret), too many pools, or unavailable when it cannot be reached.
    func createSharedPool(_ uuid: PoolUUID) throws(TmemError) -> PoolID?

    /// Drops every page of a pool, which stays usable under the same id; for a shared pool, for every
    /// user (cleancache's `invalidate_fs` of a shared pool, which a new pool cannot do: joining the uuid
    /// again finds the old pages). After it returns true, no get returns a page put before it began.
    ///
    /// - Parameter pool: The pool.
    /// - Returns: true once every page is dropped; false when the backend did not (the default, or a
    ///   backend it could not reach): the pool may keep its pages, and the caller must stop using it.
    func flushPool(_ pool: PoolID) -> Bool

    // MARK: Batches

    /// Puts several pages: `keys[i]` gets the page at `pages[i]`, and `results[i]` its outcome. Each put
    /// is independent (any may be refused). The default loops over ``put(_:page:)``.
    ///
    /// - Parameters:
    ///   - keys: The keys; two entries must not name the same key.
    ///   - pages: As many pointers, each to ``pageSize`` bytes.
    ///   - results: As many entries, overwritten.
    func putBatch(
        _ keys: UnsafeBufferPointer<Key>, pages: UnsafeBufferPointer<UnsafeRawPointer>,
        results: UnsafeMutableBufferPointer<PutResult>)

    /// Gets several pages: `keys[i]` into `pages[i]`, with `results[i]` saying hit, miss or why not.
    /// The default loops over ``get(_:into:)``.
    ///
    /// - Parameters:
    ///   - keys: The keys.
    ///   - pages: As many pointers, each to ``pageSize`` writable bytes.
    ///   - results: As many entries, overwritten.
    func getBatch(
        _ keys: UnsafeBufferPointer<Key>, into pages: UnsafeBufferPointer<UnsafeMutableRawPointer>,
        results: UnsafeMutableBufferPointer<GetResult>)

    /// Flushes several pages. The default loops over ``flushPage(_:)``.
    ///
    /// - Returns: How many of them the backend held.
    @discardableResult
    func flushBatch(_ keys: UnsafeBufferPointer<Key>) -> Int

    // MARK: Accounting

    /// What the backend holds for one pool now (a snapshot).
    ///
    /// - Returns: nil for a pool that does not exist.
    /// - Complexity: O(shards): cheap enough to poll, too dear for every put (use ``putCharged(_:page:)``).
    func usage(of pool: PoolID) -> PoolUsage?

    /// The most memory, in bytes, the backend lets itself use now: its own limit (RAM pool, Zcache), or
    /// what a host granted; `Int.max` when it has none of its own.
    var capacity: Int { get }

    /// Changes the capacity while running (the contract's "changing size"). Lowering it below what is
    /// held drops ephemeral pages and asks the frontends for persistent ones (``writebackWanted``); it
    /// never drops a persistent page by itself.
    ///
    /// - Parameter bytes: The new limit, at least 0.
    /// - Throws: ``TmemError`` (invalid argument) for a negative value or a backend whose size is not its
    ///   own to set (a remote host decides its own).
    func setCapacity(_ bytes: Int) throws(TmemError)

    /// Every counter under its kernel name (`stored_pages`, `evicted_pages`, `pool_limit_hit`...), in a
    /// fixed order, for `tmem stat`, logs and metrics.
    var namedStatistics: [(name: String, value: Int)] { get }

    // MARK: Reclaim

    /// How many persistent pages the backend wants its frontends to repatriate now: 0 normally; more
    /// once it passed its high watermark, until it is back under its low one. Cheap to read (a few atomic
    /// loads): frontends read it after every store. The default is 0 (a backend that never asks).
    var writebackWanted: Int { get }

    /// Up to `limit` keys of persistent pools, least recently stored first (the default: none).
    ///
    /// - Parameter limit: The most keys to return.
    /// - Returns: A snapshot; a key may be flushed or stored again before the caller acts on it.
    func coldestKeys(limit: Int) -> [Key]

    /// Tells the backend that a page it held was written back to a device by its frontend and then
    /// flushed (counted in its `written_back_pages`). The default does nothing.
    func didWriteBack(_ key: Key)

    /// The most persistent pages the backend asks its frontends to keep, while a host's shrink notice is
    /// in force (SEMANTICS.md, "The host": the client repatriates pages to its own swap device); nil
    /// normally. A frontend's reclaimer reads it every round. The default is nil.
    var shrinkTarget: Int? { get }

    /// Does one bounded step of the backend's background work (Zcache: a step of compaction), on the
    /// calling thread, which is a frontend's reclaimer thread, never a put. The default does nothing.
    ///
    /// - Returns: true if more work is waiting (call again), false when there is none now.
    func performMaintenance() -> Bool
}

extension Backend {
    public func put(_ key: Key, page: UnsafeRawBufferPointer) -> PutResult { putCharged(key, page: page).result }

    public func putBatch(
        _ keys: UnsafeBufferPointer<Key>, pages: UnsafeBufferPointer<UnsafeRawPointer>,
        results: UnsafeMutableBufferPointer<PutResult>
    ) {
        precondition(pages.count == keys.count && results.count == keys.count, "a batch's arrays differ in length")
        for i in keys.indices {
            results[i] = put(keys[i], page: UnsafeRawBufferPointer(start: pages[i], count: pageSize))
        }
    }

    public func getBatch(
        _ keys: UnsafeBufferPointer<Key>, into pages: UnsafeBufferPointer<UnsafeMutableRawPointer>,
        results: UnsafeMutableBufferPointer<GetResult>
    ) {
        precondition(pages.count == keys.count && results.count == keys.count, "a batch's arrays differ in length")
        for i in keys.indices {
            do throws(TmemError) {
                let hit = try get(keys[i], into: UnsafeMutableRawBufferPointer(start: pages[i], count: pageSize))
                results[i] = hit ? .hit : .miss
            } catch {
                results[i] = .failed(error)
            }
        }
    }

    @discardableResult
    public func flushBatch(_ keys: UnsafeBufferPointer<Key>) -> Int {
        var held = 0
        for key in keys where flushPage(key) { held += 1 }
        return held
    }

    public func createSharedPool(_ uuid: PoolUUID) throws(TmemError) -> PoolID? { nil }
    public func flushPool(_ pool: PoolID) -> Bool { false }

    public var writebackWanted: Int { 0 }
    public func coldestKeys(limit: Int) -> [Key] { [] }
    public func didWriteBack(_ key: Key) {}
    public var shrinkTarget: Int? { nil }
    public func performMaintenance() -> Bool { false }
}
