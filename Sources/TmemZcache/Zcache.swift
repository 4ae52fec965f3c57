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
/// does not exist (`.noSuchPool`). Same-filled pages (zero pages included) cost no pool memory.
/// A damaged object (checksum or decoder failure) is reported by `get` as an error, never as data.
///
/// It is a ``WritebackSource``: past its limit it asks its frontend to repatriate its least recently
/// stored pages until it is below the accept threshold, and orders shrink the same way.
///
/// ## Implementation Notes
/// - **Page table.** Keys live in 64-index ``Chunk``s (presence bitmap + packed 8-byte values), found
///   through one hash table per shard keyed by (pool, object, index / 64): about 8.5 bytes per page when
///   a chunk is full, and never more than a chunk's fixed cost per page. ``ZcacheStatistics/metadataBytes``
///   counts all of it, plus the ZPool's span descriptors.
/// - **Sharding.** Chunks are spread over ``shardCount`` shards by a hash of (pool, object, index / 64);
///   a shard's Mutex guards its table, its chunks, its LRU list and its counters. Compression runs
///   outside every shard lock, with a compressor from a small pool; decompression runs under the shard
///   lock, straight from the object, so a concurrent flush cannot free it mid-read.
/// - **Capacity.** Usage is the ZPool's span bytes plus metadata. A store that would pass the limit sets
///   `limitHit`; from then on stores are refused until usage falls to the accept threshold (hysteresis),
///   and ``writebackWanted`` tells the frontend how many cold pages to repatriate.
/// - **Lock ordering:** a compressor slot → a shard lock → ZPool's class locks. ``compact()`` takes every
///   shard lock in index order, then ZPool's.
///
/// ## Caveats
/// - Pool ids are not reused: a Zcache serves at most ``maxPools`` pools over its life.
/// - Ephemeral pools are accepted and kept like persistent ones (they are never written back); dropping
///   them under pressure is left to the cleancache work.
public final class Zcache: Backend, WritebackSource {
    /// Shards: a power of two, enough that a handful of threads rarely meet on one lock.
    public static let shardCount = 32
    /// Pool ids run 1..<maxPools.
    public static let maxPools = 1024

    struct ShardState: @unchecked Sendable {
        // @unchecked: holds class references (chunks) that are only touched under the shard's Mutex.
        var chunks: [ChunkKey: Chunk] = [:]
        /// Least recently stored chunk (the cold end) and most recently stored (the hot end).
        unowned(unsafe) var coldest: Chunk?
        unowned(unsafe) var hottest: Chunk?
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
    /// Per pool id, what the pool is: the one record of which pools live, read without a lock by every
    /// put and by writeback (which takes only persistent pools' pages).
    let pools: [PoolSlot]
    let nextPool = Atomic<UInt32>(1)

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
    let writtenBack = Atomic<Int>(0)
    let corruptObjects = Atomic<Int>(0)
    let freesSinceCompaction = Atomic<Int>(0)

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
        guard (1..<pageSize).contains(configuration.poorCompressionThreshold) else {
            throw .invalidArgument("the poor-compression threshold must be 1...\(pageSize - 1) bytes")
        }
        self.configuration = configuration
        limitBytes = Atomic(configuration.limit)
        acceptPercent = configuration.acceptThresholdPercent
        shards = (0..<Self.shardCount).map { _ in Shard() }
        pools = (0..<Self.maxPools).map { _ in PoolSlot() }
        do {
            zpool = try ZPool()
        } catch {
            throw .unavailable("cannot reserve the compressed pool's arena: \(error)")
        }
        let processors = max(sysconf(Int32(_SC_NPROCESSORS_ONLN)), 1)
        do {
            compressors = try CompressorPool(
                algorithm: configuration.compressor, level: configuration.level, count: 2 * processors + 2)
        } catch {
            throw .invalidArgument("cannot set up the \(configuration.compressor) compressor: \(error.message)")
        }
    }

    /// The byte limit in force.
    public var limit: Int { limitBytes.load(ordering: .relaxed) }

    /// Changes the limit while running. Lowering it below the usage starts writeback at the next store.
    ///
    /// - Parameter bytes: The new limit, at least 0.
    public func setLimit(_ bytes: Int) {
        precondition(bytes >= 0, "a limit is a byte count")
        limitBytes.store(bytes, ordering: .relaxed)
        if usage >= bytes { limitHit.store(true, ordering: .relaxed) }
    }

    /// Memory counted against the limit: span bytes from the OS plus all metadata.
    var usage: Int { zpool.footprintBytes + chunkBytes.load(ordering: .relaxed) }

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

    /// The kind of a live pool, or nil for a pool that does not exist (never made, or destroyed).
    @inline(__always)
    func kind(of pool: UInt32) -> PoolKind? {
        guard Int(pool) < Self.maxPools else { return nil }
        return PoolSlot.decode(pools[Int(pool)].state.load(ordering: .acquiring))
    }

    @inline(__always)
    func isLive(_ pool: PoolID) -> Bool { kind(of: pool.rawValue) != nil }
}

/// One pool id's state, in a class so that many can sit in an array: 0 for no pool, else its kind.
final class PoolSlot: Sendable {
    let state = Atomic<UInt8>(0)

    static func encode(_ kind: PoolKind) -> UInt8 { kind == .persistent ? 1 : 2 }
    static func decode(_ state: UInt8) -> PoolKind? { state == 0 ? nil : state == 1 ? .persistent : .ephemeral }
}
