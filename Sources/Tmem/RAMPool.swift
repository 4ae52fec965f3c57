import Synchronization

/// The reference backend: uncompressed page copies in this process's RAM, up to a byte capacity that can
/// change while running (the "unknown and changing size" of the contract).
///
/// Every other backend is tested against this one (the test kit's backend-contract suite runs on all).
/// It refuses a put to an unknown pool (`.noSuchPool`) and a put of a new key when holding it would take
/// ``usedBytes`` past ``capacity`` and no ephemeral page is left to drop (`.capacity`); a put over a key it
/// already holds always succeeds, in place. Ephemeral pages are dropped least recently used first (a put
/// or a hit is a use) whenever room is needed, and counted in `evicted_pages`; persistent pages are never
/// dropped, so lowering the capacity below what they take refuses new keys until pages are flushed.
///
/// ## Implementation Notes
/// Objects are spread over ``shardCount`` shards by a hash of (pool, object): an object's pages live in
/// one shard, under one lock, so ``flushObject(pool:object:)`` is one dictionary removal and is atomic
/// with every put of that object (no racing put can survive it). Each shard has its own arena of 4 KiB
/// frames (256 KiB chunks recycled through a free list: no allocation per page once grown; chunks are
/// not returned to the OS) and its own LRU list of ephemeral frames. ``usedBytes`` counts 4096 bytes per
/// held page, not the dictionaries' overhead. Being the reference, it favours plainness over speed: one
/// swap area (one object) is served under one lock.
///
/// Lock ordering: `pools` (create/destroy) → shard locks one at a time. A put that needs room evicts with
/// no shard lock held.
public final class RAMPool: Backend {
    /// Counters, named after the events they count.
    public struct Statistics: Sendable, Equatable {
        /// Pages held now.
        public var storedPages: Int
        /// Bytes of page data held now (4096 per page).
        public var usedBytes: Int
        /// The byte limit now in force.
        public var capacity: Int
        /// Puts accepted.
        public var succPuts: Int
        /// Puts refused because the pool was full.
        public var rejectCapacity: Int
        /// Puts refused because the pool did not exist.
        public var rejectNoSuchPool: Int
        /// Gets that found the page.
        public var getHits: Int
        /// Gets that missed.
        public var getMisses: Int
        /// Ephemeral pages dropped to make room (`evicted_pages`).
        public var evictedPages: Int
    }

    /// Number of shards: a power of two.
    public static let shardCount = 16
    static let framesPerChunk = 64

    private final class ShardBox: Sendable {
        let state = Mutex(Shard())
    }

    private let shards: [ShardBox]
    /// Live pools, for creation and destruction (puts read each shard's own copy).
    private let pools = Mutex<[PoolID: PoolKind]>([:])
    private let nextPool = Atomic<UInt32>(1)
    /// Where the next eviction starts looking, so that shards give up pages in turn.
    private let evictionCursor = Atomic<Int>(0)
    private let capacityBytes: Atomic<Int>
    private let used = Atomic<Int>(0)
    private let pages = Atomic<Int>(0)
    private let succPuts = Atomic<Int>(0)
    private let rejectCapacity = Atomic<Int>(0)
    private let rejectNoSuchPool = Atomic<Int>(0)
    private let getHits = Atomic<Int>(0)
    private let getMisses = Atomic<Int>(0)
    private let evicted = Atomic<Int>(0)

    /// Creates an empty RAM pool.
    ///
    /// - Parameter capacity: The most page bytes to hold (4096 per page); 0 refuses every new key.
    public init(capacity: Int) {
        precondition(capacity >= 0, "capacity must not be negative")
        capacityBytes = Atomic(capacity)
        shards = (0..<Self.shardCount).map { _ in ShardBox() }
    }

    deinit {
        for box in shards {
            box.state.withLock { shard in
                for chunk in shard.chunks { chunk.deallocate() }
                shard.chunks = []
            }
        }
    }

    /// The byte limit in force. Reading is cheap; see ``setCapacity(_:)`` to change it.
    public var capacity: Int { capacityBytes.load(ordering: .relaxed) }

    /// Bytes of page data held now.
    public var usedBytes: Int { used.load(ordering: .relaxed) }

    /// Changes the byte limit while running. Lowering it below ``usedBytes`` drops ephemeral pages, least
    /// recently used first, until the pool fits or none are left; persistent pages are never dropped.
    ///
    /// - Parameter bytes: The new limit in bytes.
    /// - Throws: ``TmemError`` (invalid argument) when it is negative.
    public func setCapacity(_ bytes: Int) throws(TmemError) {
        guard bytes >= 0 else { throw .invalidArgument("a capacity is a byte count, not \(bytes)") }
        capacityBytes.store(bytes, ordering: .relaxed)
        while usedBytes > bytes, evictOne() {}
    }

    /// A snapshot of the counters (each read atomically, not all at one instant).
    public var statistics: Statistics {
        Statistics(
            storedPages: pages.load(ordering: .relaxed), usedBytes: usedBytes, capacity: capacity,
            succPuts: succPuts.load(ordering: .relaxed), rejectCapacity: rejectCapacity.load(ordering: .relaxed),
            rejectNoSuchPool: rejectNoSuchPool.load(ordering: .relaxed), getHits: getHits.load(ordering: .relaxed),
            getMisses: getMisses.load(ordering: .relaxed), evictedPages: evicted.load(ordering: .relaxed))
    }

    public var namedStatistics: [(name: String, value: Int)] {
        let s = statistics
        return [
            ("stored_pages", s.storedPages), ("mem_used_total", s.usedBytes), ("mem_limit", s.capacity),
            ("succ_puts", s.succPuts), ("reject_capacity", s.rejectCapacity),
            ("reject_no_such_pool", s.rejectNoSuchPool), ("get_hits", s.getHits), ("get_misses", s.getMisses),
            ("evicted_pages", s.evictedPages),
        ]
    }

    public func createPool(_ kind: PoolKind) throws(TmemError) -> PoolID {
        let pool = try pools.withLock { (live: inout [PoolID: PoolKind]) throws(TmemError) -> PoolID in
            guard live.count < Int(UInt32.max) - 1 else { throw .tooManyPools("the RAM pool has no pool id left") }
            // Ids count up and wrap, skipping 0 and live pools: a destroyed pool's id comes back only after
            // four billion creations.
            var raw = nextPool.wrappingAdd(1, ordering: .relaxed).oldValue
            while raw == 0 || live[PoolID(rawValue: raw)] != nil {
                raw = nextPool.wrappingAdd(1, ordering: .relaxed).oldValue
            }
            let pool = PoolID(rawValue: raw)
            live[pool] = kind
            return pool
        }
        for box in shards { box.state.withLock { $0.kinds[pool] = kind } }
        return pool
    }

    public func destroyPool(_ pool: PoolID) {
        pools.withLock { live in
            guard live.removeValue(forKey: pool) != nil else { return }
            for box in shards {
                box.state.withLock { shard in
                    shard.kinds[pool] = nil
                    for name in shard.objects.keys where name.pool == pool {
                        for frame in shard.objects.removeValue(forKey: name)!.values {
                            shard.release(frame)
                            releaseRoom()
                        }
                    }
                    shard.usage[pool] = nil
                }
            }
        }
    }

    public func putCharged(_ key: Key, page: UnsafeRawBufferPointer) -> (result: PutResult, storedBytesDelta: Int) {
        precondition(page.count == pageSize, "a page is \(pageSize) bytes")
        let name = ObjectName(pool: key.pool, object: key.object.rawValue)
        let index = key.index.rawValue
        let box = shard(for: name)
        // A replace needs no room.
        let replaced: Bool? = box.state.withLock { shard in
            guard shard.kinds[key.pool] != nil else { return nil }
            guard let frame = shard.objects[name]?[index] else { return false }
            shard.frame(frame).copyMemory(from: page.baseAddress!, byteCount: pageSize)
            shard.touch(frame)
            return true
        }
        switch replaced {
        case nil:
            rejectNoSuchPool.add(1, ordering: .relaxed)
            return (.refused(.noSuchPool), 0)
        case true?:
            succPuts.add(1, ordering: .relaxed)
            return (.stored, 0)
        case false?:
            break
        }
        while !reserveRoom() {
            guard evictOne() else {
                rejectCapacity.add(1, ordering: .relaxed)
                return (.refused(.capacity), 0)
            }
        }
        let inserted = box.state.withLock { shard in
            guard shard.kinds[key.pool] != nil else { return false }
            if let frame = shard.objects[name]?[index] {
                // The caller broke the one-put-per-key rule; keep the later bytes, return the room.
                shard.frame(frame).copyMemory(from: page.baseAddress!, byteCount: pageSize)
                releaseRoom()
                return true
            }
            shard.insert(name, index, page)
            return true
        }
        guard inserted else {
            releaseRoom()
            rejectNoSuchPool.add(1, ordering: .relaxed)
            return (.refused(.noSuchPool), 0)
        }
        succPuts.add(1, ordering: .relaxed)
        return (.stored, pageSize)
    }

    public func get(_ key: Key, into page: UnsafeMutableRawBufferPointer) throws(TmemError) -> Bool {
        precondition(page.count == pageSize, "a page is \(pageSize) bytes")
        let name = ObjectName(pool: key.pool, object: key.object.rawValue)
        let hit = shard(for: name).state.withLock { shard in
            guard let frame = shard.objects[name]?[key.index.rawValue] else { return false }
            page.baseAddress!.copyMemory(from: shard.frame(frame), byteCount: pageSize)
            shard.touch(frame)
            return true
        }
        if hit { getHits.add(1, ordering: .relaxed) } else { getMisses.add(1, ordering: .relaxed) }
        return hit
    }

    @discardableResult
    public func flushPage(_ key: Key) -> Bool {
        let name = ObjectName(pool: key.pool, object: key.object.rawValue)
        let held = shard(for: name).state.withLock { $0.remove(name, key.index.rawValue) }
        if held { releaseRoom() }
        return held
    }

    @discardableResult
    public func flushObject(pool: PoolID, object: ObjectID) -> Int {
        let name = ObjectName(pool: pool, object: object.rawValue)
        return shard(for: name).state.withLock { shard in
            guard let frames = shard.objects.removeValue(forKey: name) else { return 0 }
            for frame in frames.values {
                shard.release(frame)
                releaseRoom()
            }
            return frames.count
        }
    }

    public func usage(of pool: PoolID) -> PoolUsage? {
        var total = PoolUsage()
        for box in shards {
            let live = box.state.withLock { shard -> Bool in
                guard shard.kinds[pool] != nil else { return false }
                if let usage = shard.usage[pool] { total.add(usage) }
                return true
            }
            if !live { return nil }
        }
        return total
    }

    /// Drops the least recently used ephemeral page of the next shard that has one.
    ///
    /// - Returns: false when no shard holds an ephemeral page.
    private func evictOne() -> Bool {
        let start = evictionCursor.wrappingAdd(1, ordering: .relaxed).oldValue
        for step in 0..<Self.shardCount {
            let box = shards[(start &+ step) & (Self.shardCount - 1)]
            if box.state.withLock({ $0.evictColdest() }) {
                releaseRoom()
                evicted.add(1, ordering: .relaxed)
                return true
            }
        }
        return false
    }

    private func shard(for name: ObjectName) -> ShardBox {
        var h = name.object &* 0xC2B2_AE3D_27D4_EB4F
        h ^= UInt64(name.pool.rawValue) &* 0x1656_67B1_9E37_79F9
        return shards[Int(truncatingIfNeeded: h >> 59) & (Self.shardCount - 1)]
    }

    /// Claims room for one page, or returns false if that would pass the capacity.
    private func reserveRoom() -> Bool {
        let after = used.wrappingAdd(pageSize, ordering: .relaxed).newValue
        if after > capacityBytes.load(ordering: .relaxed) {
            used.wrappingSubtract(pageSize, ordering: .relaxed)
            return false
        }
        pages.add(1, ordering: .relaxed)
        return true
    }

    private func releaseRoom() {
        used.wrappingSubtract(pageSize, ordering: .relaxed)
        pages.subtract(1, ordering: .relaxed)
    }
}
