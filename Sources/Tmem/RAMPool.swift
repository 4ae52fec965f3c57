import Synchronization

/// The reference backend: uncompressed page copies in this process's RAM, up to a byte capacity that can
/// change while running (the "unknown and changing size" of the contract).
///
/// Every other backend is tested against this one. It refuses a put of a new key when holding it would
/// take ``usedBytes`` past ``capacity`` (reason `.capacity`) and a put to an unknown pool (`.noSuchPool`);
/// a put over a key it already holds always succeeds, in place. Lowering the capacity below what is held
/// keeps every persistent page (the contract forbids dropping them) and refuses new keys until pages are
/// flushed; ephemeral pages are dropped down to the new capacity.
///
/// ## Implementation Notes
/// Keys are spread over ``shardCount`` shards by a hash of the key; each shard has its own lock, its own
/// dictionary per pool and its own arena of 4 KiB frames, so two threads touching different keys rarely
/// meet. Frames come from 256 KiB chunks and are recycled through a free list: no allocation per page
/// once the arena has grown. Chunks are not returned to the OS (this is the simple reference backend;
/// Zcache is the one that watches its footprint). ``usedBytes`` counts 4096 bytes per held page, not the
/// dictionaries' overhead.
///
/// Lock ordering: `poolKinds` is never held while a shard lock is taken, and shard locks are taken one at
/// a time, except in ``setCapacity`` and `destroyPool`, which take them one after another, never nested.
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
        /// Ephemeral pages dropped to make the pool fit a lowered capacity.
        public var evictedEphemeral: Int
    }

    /// Number of shards: a power of two, enough that 2–8 threads rarely share one.
    public static let shardCount = 16
    private static let framesPerChunk = 64

    private struct ObjectIndex: Hashable {
        var object: UInt64
        var index: UInt32
    }

    // @unchecked: the chunk pointers are owned by the shard and only touched under its Mutex (and in
    // deinit, when no other reference exists).
    private struct Shard: @unchecked Sendable {
        /// Per pool: the frame holding each stored page.
        var pools: [PoolID: [ObjectIndex: Int32]] = [:]
        var chunks: [UnsafeMutableRawPointer] = []
        var freeFrames: [Int32] = []

        func frame(_ number: Int32) -> UnsafeMutableRawPointer {
            let n = Int(number)
            return chunks[n / RAMPool.framesPerChunk] + (n % RAMPool.framesPerChunk) * pageSize
        }

        mutating func allocateFrame() -> Int32 {
            if let frame = freeFrames.popLast() { return frame }
            let chunk = UnsafeMutableRawPointer.allocate(
                byteCount: RAMPool.framesPerChunk * pageSize, alignment: pageSize)
            let first = Int32(chunks.count * RAMPool.framesPerChunk)
            chunks.append(chunk)
            freeFrames.reserveCapacity(freeFrames.count + RAMPool.framesPerChunk)
            for i in (1..<Int32(RAMPool.framesPerChunk)).reversed() { freeFrames.append(first + i) }
            return first
        }
    }

    private final class ShardBox: Sendable {
        let state = Mutex(Shard())
    }

    private let shards: [ShardBox]
    private let poolKinds = Mutex<[PoolID: PoolKind]>([:])
    private let nextPool = Atomic<UInt32>(1)
    private let capacityBytes: Atomic<Int>
    private let used = Atomic<Int>(0)
    private let pages = Atomic<Int>(0)
    private let succPuts = Atomic<Int>(0)
    private let rejectCapacity = Atomic<Int>(0)
    private let rejectNoSuchPool = Atomic<Int>(0)
    private let getHits = Atomic<Int>(0)
    private let getMisses = Atomic<Int>(0)
    private let evictedEphemeral = Atomic<Int>(0)

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

    /// Changes the byte limit while running. Lowering it below ``usedBytes`` drops ephemeral pages until
    /// the pool fits or none are left; persistent pages are never dropped.
    ///
    /// - Parameter newCapacity: The new limit in bytes, at least 0.
    public func setCapacity(_ newCapacity: Int) {
        precondition(newCapacity >= 0, "capacity must not be negative")
        capacityBytes.store(newCapacity, ordering: .relaxed)
        guard usedBytes > newCapacity else { return }
        let ephemeral = poolKinds.withLock { kinds in kinds.filter { $0.value == .ephemeral }.map(\.key) }
        for box in shards where usedBytes > newCapacity {
            box.state.withLock { shard in
                for pool in ephemeral {
                    guard let entries = shard.pools[pool] else { continue }
                    for (objectIndex, frame) in entries where usedBytes > newCapacity {
                        shard.pools[pool]![objectIndex] = nil
                        shard.freeFrames.append(frame)
                        release()
                        evictedEphemeral.add(1, ordering: .relaxed)
                    }
                }
            }
        }
    }

    /// A snapshot of the counters (each read atomically, not all at one instant).
    public var statistics: Statistics {
        Statistics(
            storedPages: pages.load(ordering: .relaxed), usedBytes: usedBytes, capacity: capacity,
            succPuts: succPuts.load(ordering: .relaxed), rejectCapacity: rejectCapacity.load(ordering: .relaxed),
            rejectNoSuchPool: rejectNoSuchPool.load(ordering: .relaxed), getHits: getHits.load(ordering: .relaxed),
            getMisses: getMisses.load(ordering: .relaxed), evictedEphemeral: evictedEphemeral.load(ordering: .relaxed))
    }

    public func createPool(_ kind: PoolKind) throws(TmemError) -> PoolID {
        let raw = nextPool.wrappingAdd(1, ordering: .relaxed).oldValue
        guard raw != 0 else { throw .tooManyPools("the RAM pool ran out of pool ids") }
        let pool = PoolID(rawValue: raw)
        poolKinds.withLock { $0[pool] = kind }
        for box in shards { box.state.withLock { $0.pools[pool] = [:] } }
        return pool
    }

    public func destroyPool(_ pool: PoolID) {
        guard poolKinds.withLock({ $0.removeValue(forKey: pool) }) != nil else { return }
        for box in shards {
            box.state.withLock { shard in
                guard let entries = shard.pools.removeValue(forKey: pool) else { return }
                for frame in entries.values {
                    shard.freeFrames.append(frame)
                    release()
                }
            }
        }
    }

    public func put(_ key: Key, page: UnsafeRawBufferPointer) -> PutResult {
        precondition(page.count == pageSize, "a page is \(pageSize) bytes")
        let objectIndex = ObjectIndex(object: key.object.rawValue, index: key.index.rawValue)
        let result: PutResult = shard(for: key).state.withLock { shard in
            guard shard.pools[key.pool] != nil else { return .refused(.noSuchPool) }
            if let frame = shard.pools[key.pool]![objectIndex] {
                shard.frame(frame).copyMemory(from: page.baseAddress!, byteCount: pageSize)
                return .stored
            }
            guard reserve() else { return .refused(.capacity) }
            let frame = shard.allocateFrame()
            shard.frame(frame).copyMemory(from: page.baseAddress!, byteCount: pageSize)
            shard.pools[key.pool]![objectIndex] = frame
            return .stored
        }
        switch result {
        case .stored: succPuts.add(1, ordering: .relaxed)
        case .refused(.capacity): rejectCapacity.add(1, ordering: .relaxed)
        case .refused: rejectNoSuchPool.add(1, ordering: .relaxed)
        }
        return result
    }

    public func get(_ key: Key, into page: UnsafeMutableRawBufferPointer) throws(TmemError) -> Bool {
        precondition(page.count == pageSize, "a page is \(pageSize) bytes")
        let objectIndex = ObjectIndex(object: key.object.rawValue, index: key.index.rawValue)
        let hit = shard(for: key).state.withLock { shard in
            guard let frame = shard.pools[key.pool]?[objectIndex] else { return false }
            page.baseAddress!.copyMemory(from: shard.frame(frame), byteCount: pageSize)
            return true
        }
        if hit { getHits.add(1, ordering: .relaxed) } else { getMisses.add(1, ordering: .relaxed) }
        return hit
    }

    @discardableResult
    public func flushPage(_ key: Key) -> Bool {
        let objectIndex = ObjectIndex(object: key.object.rawValue, index: key.index.rawValue)
        return shard(for: key).state.withLock { shard in
            guard let frame = shard.pools[key.pool]?.removeValue(forKey: objectIndex) else { return false }
            shard.freeFrames.append(frame)
            release()
            return true
        }
    }

    @discardableResult
    public func flushObject(pool: PoolID, object: ObjectID) -> Int {
        var dropped = 0
        for box in shards {
            box.state.withLock { shard in
                guard let entries = shard.pools[pool] else { return }
                for (objectIndex, frame) in entries where objectIndex.object == object.rawValue {
                    shard.pools[pool]![objectIndex] = nil
                    shard.freeFrames.append(frame)
                    release()
                    dropped += 1
                }
            }
        }
        return dropped
    }

    private func shard(for key: Key) -> ShardBox {
        var h = UInt64(key.index.rawValue) &* 0x9E37_79B9_7F4A_7C15
        h ^= key.object.rawValue &* 0xC2B2_AE3D_27D4_EB4F
        h ^= UInt64(key.pool.rawValue) &* 0x1656_67B1_9E37_79F9
        return shards[Int(truncatingIfNeeded: h >> 59) & (Self.shardCount - 1)]
    }

    /// Claims room for one page, or returns false if that would pass the capacity.
    private func reserve() -> Bool {
        let after = used.wrappingAdd(pageSize, ordering: .relaxed).newValue
        if after > capacityBytes.load(ordering: .relaxed) {
            used.wrappingSubtract(pageSize, ordering: .relaxed)
            return false
        }
        pages.add(1, ordering: .relaxed)
        return true
    }

    private func release() {
        used.wrappingSubtract(pageSize, ordering: .relaxed)
        pages.subtract(1, ordering: .relaxed)
    }
}
