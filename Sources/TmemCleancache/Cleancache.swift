import Synchronization
import Tmem

/// Cleancache: the ephemeral frontend for clean file pages (SEMANTICS.md, "Cleancache"), over any
/// backend's ephemeral pools. A victim cache: a program that reads a file through its own page cache
/// ``put(_:file:index:page:since:)``s clean pages it drops and ``get(_:file:index:into:)``s before it
/// reads the file.
///
/// The contract it keeps, whatever the backend does inside:
/// - put-put-get: after two puts of one key a get returns the second page or misses, never the first;
/// - get-get: after a get misses, no later get hits until a new put;
/// - after ``invalidatePage(_:file:index:)``, ``invalidateFile(_:file:)`` or ``invalidateFS(_:)``, no get
///   returns data put before the invalidation, also when a put of the same page races it.
///
/// How: every key has a stripe lock that its put, get and page invalidation hold, and every file an
/// *invalidation generation*. A put reads the generation (or takes the one the caller read before it
/// read the file, ``token(_:file:)``), stores, and undoes its store if the generation moved meanwhile:
/// under the stripe, so no get can see the page in between. A put whose token is older than the
/// file's last invalidation is dropped: its bytes may predate a write. Puts are never waited on for a
/// refusal: a refused put is simply not cached.
///
/// Shared pools: ``initSharedFS(uuid:)`` joins the backend's own shared pool of the uuid when it has
/// one (a host's, ``Backend/createSharedPool(_:)``), so that every process naming the uuid sees the
/// others' pages; otherwise it shares a private pool among this cleancache's callers.
///
/// Thread-safe: any number of threads may call anything at once.
///
/// ## Caveats
/// - Across processes, the invalidation generations are each process's own: an invalidation by one
///   process reaches the others' pages through the backend (a flush), but not their puts in flight. A
///   process that put a page read before another process changed the file can leave it cached after
///   that process's invalidation. The kernel's shared pools relied on a cluster file system's locks for
///   this; users of a shared pool must likewise order a write (and its invalidation) after the other
///   processes' reads of the page, or invalidate again once those puts are done.
/// - An invalidation that cannot reach the backend (a host that does not answer) is not retried: a page
///   it should have dropped may stay in a shared pool. ``invalidateFS(_:)`` of a shared pool stops
///   caching in this process instead, until an ``invalidateFS(_:)`` succeeds.
public final class Cleancache: Sendable {
    /// The backend holding the pages.
    public let backend: any Backend
    private let pools = Mutex<PoolTable>(PoolTable())
    private let stripes = MutexArray<Void>(count: 128) { () }
    private let generations = MutexArray<[FileKey: UInt64]>(count: 64) { [:] }
    let counters = CleancacheCounters()
    /// Each cached file's identity when last checked (``revalidate(_:identity:)``).
    let identities = Mutex<[FileKey: FileIdentity]>([:])
    /// Held while a pool shared through the backend is emptied (``invalidateFS(_:)``): one at a time, so
    /// that a failed flush and a successful one never race over the pool's backend reference.
    private let sharedInvalidation = Mutex<Void>(())

    /// A cleancache over `backend` (whose ephemeral pools it makes).
    public init(backend: any Backend) {
        self.backend = backend
    }

    deinit {
        for pool in pools.withLock({ $0.all }) { backend.destroyPool(pool) }
    }

    // MARK: Pools

    /// Makes a private pool for one file system (the kernel's `init_fs`).
    ///
    /// - Parameters:
    ///   - pageSize: The file system's page size: must be the backend's (4096); cleancache does not
    ///     split or join pages.
    ///   - exclusiveGets: A hit removes the page from the pool (the kernel's private pools did; a program
    ///     that keeps the page it got in its own cache then holds the only copy); false keeps it.
    /// - Throws: ``TmemError`` invalid argument for another page size; the backend's error when it has
    ///   no room for another pool.
    public func initFS(pageSize: Int = Tmem.pageSize, exclusiveGets: Bool = false) throws(TmemError) -> FSPool {
        guard pageSize == Tmem.pageSize else {
            throw .invalidArgument("cleancache pages are \(Tmem.pageSize) bytes, not \(pageSize)")
        }
        let id = try backend.createPool(.ephemeral)
        return pools.withLock { $0.add(FSPoolState(backendPool: id, exclusiveGets: exclusiveGets, shared: nil)) }
    }

    /// Makes or joins the pool shared by every caller naming `uuid` (the kernel's `init_shared_fs`): every
    /// user of the backend's shared pool of `uuid` when it has them (a host: every process whose session
    /// may join), else every caller of this cleancache. Gets from a shared pool are never exclusive. Each
    /// call takes a reference that ``closeFS(_:)`` gives back; the pool goes with the last (a backend's
    /// shared pool stays for its other users).
    ///
    /// - Throws: ``TmemError`` from the backend: no room for a pool, not allowed to join (a host session
    ///   without the secret), or a backend that cannot be reached.
    public func initSharedFS(uuid: PoolUUID) throws(TmemError) -> FSPool {
        if let existing = pools.withLock({ $0.joinShared(uuid) }) { return existing }
        let shared = try backend.createSharedPool(uuid)
        let id: PoolID
        if let shared { id = shared } else { id = try backend.createPool(.ephemeral) }
        let state = FSPoolState(backendPool: id, exclusiveGets: false, shared: uuid, backendShared: shared != nil)
        let (pool, extra) = pools.withLock { $0.addShared(uuid, state) }
        // Another caller made it meanwhile: join theirs, drop ours.
        if let extra { backend.destroyPool(extra) }
        return pool
    }

    /// Puts between two steps of the backend's background work.
    static let putsPerMaintenance = 256

    /// Runs up to 8 steps of the backend's background work (Zcache's compaction, which gives back the
    /// memory that evicted pages leave in half-empty spans), fewer when it has none left. Puts call it
    /// every 256th time, on the putting thread (a step costs nothing when the pool is not fragmented):
    /// cleancache has no reclaimer thread of its own, and a full victim cache evicts on every put.
    public func maintain() {
        var steps = 0
        while steps < 8 && backend.performMaintenance() { steps += 1 }
    }

    /// Whether a hit in `pool` removes the page (``initFS(pageSize:exclusiveGets:)``); false for shared
    /// pools and unknown ones.
    public func exclusiveGets(_ pool: FSPool) -> Bool {
        pools.withLock { $0.state(pool)?.exclusiveGets ?? false }
    }

    /// Gives back a pool from ``initFS(pageSize:exclusiveGets:)`` or ``initSharedFS(uuid:)``: its pages go
    /// (for a shared pool, with its last reference). Unknown pools are ignored.
    public func closeFS(_ pool: FSPool) {
        if let gone = pools.withLock({ $0.release(pool) }) { backend.destroyPool(gone) }
    }

    // MARK: Pages

    /// The file's invalidation token now: read it *before* reading a page from the file, and pass it
    /// to ``put(_:file:index:page:since:)``; a put whose file was invalidated since is dropped.
    public func token(_ pool: FSPool, file: UInt64) -> CleancacheToken {
        CleancacheToken(poolEpoch: pools.withLock { $0.epoch(pool) }, generation: generation(FileKey(pool: pool, file: file)))
    }

    /// Offers a clean page (its bytes equal the file's). It may be dropped: silently, at once or later.
    ///
    /// - Parameters:
    ///   - since: The token read before the page was read from the file; nil: the caller guarantees the
    ///     page is clean now (no write of it can be in progress).
    /// - Returns: Whether the page was cached (for statistics and tests; callers need not look).
    @discardableResult
    public func put(_ pool: FSPool, file: UInt64, index: UInt32, page: UnsafeRawBufferPointer, since: CleancacheToken? = nil) -> Bool {
        precondition(page.count == Tmem.pageSize, "a page is \(Tmem.pageSize) bytes")
        let puts = counters.puts.add(1, ordering: .relaxed).newValue
        if puts % Self.putsPerMaintenance == 0 { maintain() }
        let fileKey = FileKey(pool: pool, file: file)
        return stripes.withLock(stripe(fileKey, index)) { _ -> Bool in
            guard let state = pools.withLock({ $0.state(pool) }) else { return false }
            let before = generation(fileKey)
            let key = Key(pool: state.backendPool, object: ObjectID(rawValue: file), index: PageIndex(rawValue: index))
            if let since, since.generation != before || since.poolEpoch != state.epoch {
                // Its bytes may predate a write; and an older put of the key must not outlive it
                // (put-put-get).
                _ = backend.flushPage(key)
                return false
            }
            guard case .stored = backend.put(key, page: page) else { return false }
            let now = pools.withLock { $0.state(pool) }
            if generation(fileKey) != before || now?.backendPool != state.backendPool || now?.epoch != state.epoch {
                _ = backend.flushPage(key)
                return false
            }
            return true
        }
    }

    /// Looks a page up: true and `page` filled on a hit, false on a miss (`page` then undefined).
    /// A hit in a pool with exclusive gets removes the page.
    public func get(_ pool: FSPool, file: UInt64, index: UInt32, into page: UnsafeMutableRawBufferPointer) -> Bool {
        precondition(page.count == Tmem.pageSize, "a page is \(Tmem.pageSize) bytes")
        let hit = stripes.withLock(stripe(FileKey(pool: pool, file: file), index)) { _ -> Bool in
            guard let state = pools.withLock({ $0.state(pool) }) else { return false }
            let key = Key(pool: state.backendPool, object: ObjectID(rawValue: file), index: PageIndex(rawValue: index))
            // An ephemeral page that cannot be read back (lost with a host, damaged, a host that does
            // not answer now) is a miss; the page is flushed, so that a later get does not hit without
            // a new put (get-get). Best effort: a flush the backend cannot carry out now is not retried.
            let found: Bool
            do throws(TmemError) {
                found = try backend.get(key, into: page)
            } catch {
                _ = backend.flushPage(key)
                return false
            }
            guard found else { return false }
            if state.exclusiveGets { _ = backend.flushPage(key) }
            return true
        }
        if hit { counters.succGets.add(1, ordering: .relaxed) } else { counters.failedGets.add(1, ordering: .relaxed) }
        return hit
    }

    /// Drops one page (call it before, or atomically with, changing the page in the file).
    public func invalidatePage(_ pool: FSPool, file: UInt64, index: UInt32) {
        counters.invalidates.add(1, ordering: .relaxed)
        let fileKey = FileKey(pool: pool, file: file)
        stripes.withLock(stripe(fileKey, index)) { _ in
            bump(fileKey)
            guard let state = pools.withLock({ $0.state(pool) }) else { return }
            _ = backend.flushPage(Key(pool: state.backendPool, object: ObjectID(rawValue: file), index: PageIndex(rawValue: index)))
        }
    }

    /// Drops every page of a file (the kernel's `invalidate_inode`).
    public func invalidateFile(_ pool: FSPool, file: UInt64) {
        counters.invalidates.add(1, ordering: .relaxed)
        bump(FileKey(pool: pool, file: file))
        guard let state = pools.withLock({ $0.state(pool) }) else { return }
        _ = backend.flushObject(pool: state.backendPool, object: ObjectID(rawValue: file))
    }

    /// Drops every page of the pool (the kernel's `invalidate_fs`); the pool stays usable. Its pages go
    /// with the backend pool that held them; a new one takes its place (when the backend has no room
    /// for one, the pool caches nothing until the next ``invalidateFS(_:)``).
    ///
    /// A pool shared through the backend is emptied in place for every process (``Backend/flushPool(_:)``):
    /// a new pool of the same uuid would be the same pool. When the backend cannot empty it, this
    /// process leaves it and caches nothing in it until the next ``invalidateFS(_:)`` (see Caveats).
    public func invalidateFS(_ pool: FSPool) {
        counters.invalidates.add(1, ordering: .relaxed)
        if invalidateBackendShared(pool) { return }
        let fresh = try? backend.createPool(.ephemeral)
        switch pools.withLock({ $0.replace(pool, with: fresh) }) {
        case .some(let old?): backend.destroyPool(old)
        case .some(nil): break
        case nil: if let fresh { backend.destroyPool(fresh) }
        }
    }

    /// ``invalidateFS(_:)`` of a pool shared through the backend; false for any other pool.
    private func invalidateBackendShared(_ pool: FSPool) -> Bool {
        sharedInvalidation.withLock { _ -> Bool in
            // The epoch moves first: a put that stores after the flush below then sees it moved, and
            // flushes its page again.
            guard let (uuid, current) = pools.withLock({ $0.advanceSharedEpoch(pool) }) else { return false }
            // After a failed flush the pool has no backend pool: join the uuid again, and empty it.
            guard let id = current ?? (try? backend.createSharedPool(uuid)) else { return true }
            if backend.flushPool(id) {
                if current == nil, !pools.withLock({ $0.attach(pool, id) }) { backend.destroyPool(id) }
            } else if current == nil || pools.withLock({ $0.detach(pool, from: id) }) {
                backend.destroyPool(id)
            }
            return true
        }
    }

    // MARK: Generations

    private func stripe(_ file: FileKey, _ index: UInt32) -> Int {
        var h = file.file &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(UInt32(bitPattern: file.pool.rawValue)) &* 0xC2B2_AE3D_27D4_EB4F
        h ^= UInt64(index) &* 0x1656_67B1_9E37_79F9
        return Int(truncatingIfNeeded: (h >> 32) % UInt64(stripes.count))
    }

    private func generationStripe(_ file: FileKey) -> Int {
        Int(truncatingIfNeeded: ((file.file &* 0x9E37_79B9_7F4A_7C15) >> 40) % UInt64(generations.count))
    }

    private func generation(_ file: FileKey) -> UInt64 {
        generations.withLock(generationStripe(file)) { $0[file] ?? 0 }
    }

    private func bump(_ file: FileKey) {
        generations.withLock(generationStripe(file)) { $0[file, default: 0] &+= 1 }
    }
}

/// A file system's pool in a ``Cleancache`` (private or shared).
public struct FSPool: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public var description: String { "fs pool \(rawValue)" }
}

/// What ``Cleancache/token(_:file:)`` read: the pool's epoch (moved by ``Cleancache/invalidateFS(_:)``)
/// and the file's invalidation generation.
public struct CleancacheToken: Hashable, Sendable {
    let poolEpoch: UInt64
    let generation: UInt64
}

struct FileKey: Hashable, Sendable {
    let pool: FSPool
    let file: UInt64
}
