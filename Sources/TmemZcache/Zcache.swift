#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Tmem
import TmemCompression
import TmemZPool

/// The compressed-RAM backend: each page is compressed (LZ4, zstd, or kept as is) into a compact
/// ``ZPool``, as zcache and zswap do in the kernel.
///
/// Contract: ``Backend`` (SEMANTICS.md). Refusals, each counted under zswap's name: the pool is at its
/// limit or above its accept threshold (`.capacity`, `pool_limit_hit`), the page compresses poorly and
/// the policy is to refuse (`.compressPoor`), the allocator has no room (`.allocationFailed`), the pool
/// does not exist (`.noSuchPool`), the object was flushed while the put was in flight (`.invalidated`).
/// Same-filled pages (zero pages included) cost no pool memory. Every stored object is checked on load
/// (a 32-bit checksum after a compressed object; a 31-bit one in the entry of a page kept uncompressed):
/// a damaged object is reported by `get` as an error, never as data.
///
/// Memory is reclaimed three ways: ephemeral pages are dropped, coldest first, when a put needs room
/// (`evicted_pages`); past its high watermark it asks its frontends (``writebackWanted``) to repatriate
/// its least recently stored persistent pages until it is under the accept threshold; and
/// ``performMaintenance()`` compacts the allocator a few size classes at a time, on the reclaimer's
/// thread, never inside a put.
///
/// ## Implementation Notes
/// - **Page table.** Keys live in 64-index ``Chunk``s (presence bitmap + packed 8-byte values), found
///   through one hash table per shard keyed by (pool, object, index / 64): about 8.5 bytes per page when
///   a chunk is full, and never more than a chunk's fixed cost per page. ``ZcacheStatistics/metadataBytes``
///   counts all of it, plus the ZPool's span descriptors and the object records.
/// - **Objects.** Each object has an ``ObjectRecord`` listing its chunks, so ``flushObject(pool:object:)``
///   visits only them, and a put that raced the flush is refused (the record is invalidated first).
/// - **Sharding.** Chunks are spread over ``shardCount`` shards by a hash of (pool, object, index / 64);
///   a shard's Mutex guards its table, its chunks, its two LRU lists (persistent, ephemeral), its pools'
///   cells (each with the pool's own ephemeral LRU list) and its counters.
/// - **Meters.** Every pool has a ``UsageMeter`` of its own, and the meters its creator attached
///   (``createPool(_:meters:)``); each change of a pool's pages is added to all of them under the shard
///   lock, so ``usage(of:)`` and a host's per-client totals cost an atomic load, and stay exact across
///   Zcache's own evictions. Compression runs outside every shard lock, with a compressor from a
///   small pool; decompression runs under the shard lock, straight from the object, so a concurrent flush
///   cannot free it mid-read.
/// - **Pool ids.** The low 12 bits of an id are its slot (``maxPools`` live pools at once), the high 20 a
///   reuse generation, so a destroyed pool's slot is reused at once while its old id names nothing.
/// - **Capacity.** Usage is the ZPool's span bytes plus metadata. A store that would pass the limit sets
///   `limitHit`; from then on stores are refused until usage falls to the accept threshold (hysteresis).
/// - **Deduplication** (``ZcacheConfiguration/deduplicateEphemeral``). Ephemeral pages with equal bytes
///   share one object through the ``DeduplicationIndex``, reference-counted; the entries of a shared
///   copy are marked in their chunks (``Chunk/deduplicated``), and releasing one drops a reference. The
///   meters and `compr_data_size` charge every key its page's full bytes; the limit counts the memory
///   once (Zcache+Deduplication.swift).
/// - **Lock ordering:** a compressor slot → a shard lock → an ObjectTable shard lock, a pool slot's
///   metering lock or a deduplication partition lock → ZPool's class locks. A compaction step takes every
///   compressor slot, then every shard lock in index order, then (after the moves) partition locks one at
///   a time.
///
/// ## Caveats
/// - A compaction step stops every put and get for its duration, and finds the objects of its size
///   classes by scanning every entry: O(stored pages) per step, about 1 ms per 100,000 pages. A
///   per-class reverse map would make it O(objects moved).
/// - Ephemeral pages go a chunk (up to 64 neighbouring indexes of one object) at a time, coldest chunk
///   of each shard in turn: LRU per chunk and per shard, not per page and global. A caller that names
///   the pools to take from (``evictEphemeral(from:chunks:)``) gets LRU per chunk across shards.
/// - Each object with pages costs a 96-byte record (counted in `metadata_bytes`).
public final class Zcache: Backend {
    /// Shards: a power of two, enough that a handful of threads rarely meet on one lock.
    public static let shardCount = 32
    /// Live pools at once (a pool id's low 12 bits).
    public static let maxPools = 4096

    struct LRUList {
        /// Least recently stored chunk (the cold end) and most recently stored (the hot end).
        unowned(unsafe) var coldest: Chunk?
        unowned(unsafe) var hottest: Chunk?
    }

    struct ShardState: @unchecked Sendable {
        // @unchecked: holds class references (chunks, cells) that are only touched under the shard's Mutex.
        var chunks: [ChunkKey: Chunk] = [:]
        var persistent = LRUList()
        var ephemeral = LRUList()
        /// Per pool with chunks in this shard: its meters and ephemeral LRU list.
        var usage: [UInt32: UsageCell] = [:]
        var counters = ShardCounters()
    }

    struct ChunkKey: Hashable {
        var pool: UInt32
        var base: UInt32
        var object: UInt64
    }

    struct ShardCounters {
        var storedPages = 0, sameFilledPages = 0, hugePages = 0, comprDataSize = 0
        var chunkBytes = 0, duplicateEntry = 0
    }

    final class Shard: Sendable {
        let state = Mutex(ShardState())
    }

    let configuration: ZcacheConfiguration
    let shards: [Shard]
    let zpool: ZPool
    let compressors: CompressorPool
    let objects = ObjectTable()
    /// The shared copies of ephemeral pages, when ``ZcacheConfiguration/deduplicateEphemeral`` is on.
    let deduplication: DeduplicationIndex?
    /// Per pool slot, the pool living there: the one record of which pools live, read without a lock by
    /// every put and by writeback (which takes only persistent pools' pages).
    let pools: [PoolSlot]
    /// Serialises pool creation (the search for a free slot).
    let poolCreation = Mutex(0)

    let limitBytes: Atomic<Int>
    let acceptPercent: Int
    /// Set when a store found the pool at its limit; cleared when usage falls to the accept threshold.
    let limitHit = Atomic<Bool>(false)
    /// Metadata bytes of all shards' chunks (kept in step with the shards' own counts, for the hot path).
    let chunkBytes = Atomic<Int>(0)
    let poolLimitHit = Atomic<Int>(0)
    let rejectCompressPoor = Atomic<Int>(0)
    let rejectAllocFail = Atomic<Int>(0)
    let rejectNoSuchPool = Atomic<Int>(0)
    let rejectInvalidated = Atomic<Int>(0)
    let writtenBack = Atomic<Int>(0)
    let evictedPages = Atomic<Int>(0)
    /// Ephemeral pages held (their memory is not asked back through writeback: it is dropped).
    let ephemeralPages = Atomic<Int>(0)
    let corruptObjects = Atomic<Int>(0)
    let freesSinceCompaction = Atomic<Int>(0)
    /// Where the next ephemeral eviction starts, so that shards give up pages in turn.
    let evictionCursor = Atomic<Int>(0)
    /// The next size class a compaction step starts at; 0 when no compaction is under way.
    let compactionCursor = Atomic<Int>(0)

    /// Creates an empty compressed pool.
    ///
    /// - Parameter configuration: Compressor, limit, thresholds.
    /// - Throws: ``TmemError`` if the compressor cannot be set up (an invalid level) or the allocator's
    ///   arena cannot be reserved.
    public init(configuration: ZcacheConfiguration) throws(TmemError) {
        guard configuration.limit >= 0 else { throw .invalidArgument("the limit must not be negative") }
        guard (1...100).contains(configuration.acceptThresholdPercent) else {
            throw .invalidArgument("the accept threshold is a percent of the limit: 1...100")
        }
        guard (configuration.acceptThresholdPercent...100).contains(configuration.writebackHighPercent) else {
            throw .invalidArgument("the writeback high watermark is a percent of the limit, at least the accept threshold")
        }
        guard (1..<pageSize).contains(configuration.poorCompressionThreshold) else {
            throw .invalidArgument("the poor-compression threshold must be 1...\(pageSize - 1) bytes")
        }
        self.configuration = configuration
        deduplication = configuration.deduplicateEphemeral ? DeduplicationIndex() : nil
        limitBytes = Atomic(configuration.limit)
        acceptPercent = configuration.acceptThresholdPercent
        shards = (0..<Self.shardCount).map { _ in Shard() }
        pools = (0..<Self.maxPools).map { _ in PoolSlot() }
        zpool = try Self.reserveArena(limit: configuration.limit)
        let processors = max(sysconf(Int32(_SC_NPROCESSORS_ONLN)), 1)
        do {
            compressors = try CompressorPool(
                algorithm: configuration.compressor, level: configuration.level, count: 2 * processors + 2)
        } catch {
            throw .invalidArgument("cannot set up the \(configuration.compressor) compressor: \(error.message)")
        }
    }

    /// The most address space a pool reserves for its arena: 64 GiB (reserving costs no memory).
    static let largestArena = 64 << 30
    /// The least: what a limit needs, plus a quarter for fragmentation, and at least 64 MiB.
    static func smallestArena(limit: Int) -> Int { max(64 << 20, limit + limit / 4) }

    /// Reserves the allocator's arena: 64 GiB of address space where the process may have it, else as
    /// much as it can get down to what the limit needs (`ulimit -v` in containers and CI runners cuts
    /// the address space, not the memory). A smaller arena only caps how far the limit can be raised
    /// later: past it, puts are refused with `.allocationFailed`.
    ///
    /// - Throws: ``TmemError`` when even the smallest arena for `limit` cannot be reserved.
    static func reserveArena(limit: Int) throws(TmemError) -> ZPool {
        let floor = min(smallestArena(limit: limit), ZPool.maxArenaBytesPublic)
        var size = largestArena
        var limitAS = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limitAS) == 0, limitAS.rlim_cur != rlim_t.max {
            // Leave three quarters of a limited address space to the rest of the process.
            size = min(size, Int(clamping: limitAS.rlim_cur) / 4)
        }
        size = max(size, floor)
        var lastError: ZPoolError?
        while size >= floor {
            do throws(ZPoolError) {
                return try ZPool(configuration: .init(maxPoolBytes: size & ~0xFFFF))
            } catch {
                lastError = error
            }
            if size == floor { break }
            size = max(size / 2, floor)
        }
        throw .unavailable(
            "cannot reserve \(floor >> 20) MiB of address space for the compressed pool's arena "
                + "(\(lastError.map { "\($0)" } ?? "no reason given")); raise `ulimit -v` or lower the limit")
    }

    /// The byte limit in force (zswap's `max_pool_percent`, in bytes).
    public var capacity: Int { limitBytes.load(ordering: .relaxed) }

    /// Changes the limit while running. Lowering it below the usage makes ``writebackWanted`` ask for
    /// pages back and refuses stores until usage is under the accept threshold.
    ///
    /// - Parameter bytes: The new limit, at least 0.
    /// - Throws: ``TmemError`` (invalid argument) when it is negative.
    public func setCapacity(_ bytes: Int) throws(TmemError) {
        guard bytes >= 0 else { throw .invalidArgument("a limit is a byte count, not \(bytes)") }
        limitBytes.store(bytes, ordering: .relaxed)
        if usage >= bytes { limitHit.store(true, ordering: .relaxed) }
        while usage > bytes, evictEphemeral(chunks: 16) > 0 {}
    }

    /// Memory counted against the limit: span bytes from the OS plus all metadata.
    var usage: Int {
        zpool.footprintBytes + chunkBytes.load(ordering: .relaxed) + objects.bytes.load(ordering: .relaxed)
            + (deduplication?.metadataBytes ?? 0)
    }

    /// Where a key's entry lives: its shard, its chunk's key in that shard's table, and its bit.
    struct Place {
        let shard: Shard
        let chunkKey: ChunkKey
        let bit: Int
    }

    @inline(__always)
    func locate(_ key: Key) -> Place {
        let index = key.index.rawValue
        return Place(
            shard: shard(pool: key.pool.rawValue, object: key.object.rawValue, index: index),
            chunkKey: ChunkKey(pool: key.pool.rawValue, base: index & ~63, object: key.object.rawValue),
            bit: Int(index & 63))
    }

    @inline(__always)
    func shard(pool: UInt32, object: UInt64, index: UInt32) -> Shard {
        var h = UInt64(index >> 6) &* 0x9E37_79B9_7F4A_7C15
        h ^= object &* 0xC2B2_AE3D_27D4_EB4F
        h ^= UInt64(pool) &* 0x1656_67B1_9E37_79F9
        return shards[Int(truncatingIfNeeded: h >> 58) & (Self.shardCount - 1)]
    }

    /// The kind of a live pool, or nil for a pool that does not exist (never made, or destroyed: an old
    /// id whose slot was reused names nothing).
    @inline(__always)
    func kind(of pool: UInt32) -> PoolKind? {
        let state = pools[Int(pool) & (Self.maxPools - 1)].state.load(ordering: .acquiring)
        guard UInt32(truncatingIfNeeded: state >> 8) == pool else { return nil }
        return PoolSlot.decode(UInt8(truncatingIfNeeded: state))
    }

    @inline(__always)
    func isLive(_ pool: PoolID) -> Bool { kind(of: pool.rawValue) != nil }
}

/// One pool slot's state, in a class so that many can sit in an array: 0 for no pool, else the pool's
/// id (bits 8...39) and kind (bits 0...7: 1 persistent, 2 ephemeral, 3 dying).
///
/// A destroyed pool's slot is *dying* until every chunk of the pool is gone: puts see no pool, but
/// the slot is not handed out again, so the pool's meters take every last change before they are let go.
final class PoolSlot: Sendable {
    let state = Atomic<UInt64>(0)
    /// The reuse generation the slot hands out next (guarded by `Zcache.poolCreation`).
    let generation = Atomic<UInt32>(0)
    /// The pool living here and its meters (its own first): set before the pool goes live, cleared after
    /// it died. Lock ordering: taken under a shard lock (a pool's first chunk in a shard), never the reverse.
    let metering = Mutex<(pool: UInt32, meters: [UsageMeter])>((0, []))

    static let dyingKind: UInt64 = 3

    static func encode(_ pool: UInt32, _ kind: PoolKind) -> UInt64 {
        UInt64(pool) << 8 | (kind == .persistent ? 1 : 2)
    }
    static func decode(_ state: UInt8) -> PoolKind? {
        switch state {
        case 1: .persistent
        case 2: .ephemeral
        default: nil
        }
    }

    /// The meters of `pool` while it lives or dies here (none once the slot moved on).
    func meters(of pool: UInt32) -> [UsageMeter] {
        metering.withLock { $0.pool == pool ? $0.meters : [] }
    }
}
