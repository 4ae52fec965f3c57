import Synchronization
import Tmem
import TmemZPool

// The page table and LRU lists of a shard. Every function here runs with the shard's lock held, unless
// it says otherwise.
extension Zcache {
    /// Everything a put knows about its key before it takes the shard lock.
    struct InsertTarget {
        let key: Key
        let place: Place
        /// The object's record when the put began.
        let record: ObjectRecord
        /// The record's ObjectTable shard's flush count when the put began.
        let flushes: UInt64
        let ephemeral: Bool
    }

    /// Inserts or replaces a key's entry and makes its chunk the hottest.
    ///
    /// - Returns: The outcome and the change in the pool's stored bytes. Refused when the pool died or the
    ///   object was invalidated since the put began (the caller frees the object); the key then holds
    ///   nothing.
    func insert(_ target: InsertTarget, value: UInt64, same: Bool, deduplicated: Bool = false, _ state: inout ShardState)
        -> (result: PutResult, storedBytesDelta: Int)
    {
        let chunkKey = target.place.chunkKey
        let bit = target.place.bit
        var existing = state.chunks[chunkKey]
        if let doomed = existing, doomed.record.current == .invalidated {
            // A flush is dropping this chunk: its pages are older than the flush.
            drop(doomed, chunkKey, &state)
            existing = nil
        }
        var record = target.record
        var refusal: RefusalReason?
        if !isLive(target.key.pool) {
            refusal = .noSuchPool
        } else if record.current == .invalidated {
            refusal = .invalidated
        } else if record.current == .retired {
            if let renewed = objects.renewed(record.name, since: target.flushes) { record = renewed } else {
                refusal = .invalidated
            }
        }
        if let refusal {
            var delta = 0
            if let chunk = existing, chunk.contains(bit) {
                delta = -entryBytes(chunk, bit)
                remove(chunk, bit, chunkKey, &state)
            }
            return (.refused(refusal), delta)
        }
        let chunk: Chunk
        var delta = 0
        if let existing {
            chunk = existing
            if chunk.contains(bit) {
                state.counters.duplicateEntry += 1
                delta -= entryBytes(chunk, bit)
                release(chunk, bit, &state.counters)
            }
            unlinkLRU(chunk, &state)
        } else {
            guard let linked = linkedChunk(target, record, &state) else { return (.refused(.invalidated), 0) }
            chunk = linked
            state.chunks[chunkKey] = chunk
            account(&state, chunk.cost)
        }
        let wasPresent = chunk.contains(bit)
        account(&state, chunk.set(bit, value: value, sameFilled: same, deduplicated: deduplicated))
        if !wasPresent {
            state.counters.storedPages += 1
            if chunk.ephemeral { ephemeralPages.add(1, ordering: .relaxed) }
        }
        var bytes = 0
        if same {
            state.counters.sameFilledPages += 1
        } else {
            let ref = ObjectRef(value, deduplicated: deduplicated)
            bytes = storedBytes(ref)
            state.counters.comprDataSize += bytes
            delta += bytes
            if ref.isHuge { state.counters.hugePages += 1 }
        }
        chunk.usage.add(pages: wasPresent ? 0 : 1, storedBytes: bytes)
        chunk.lastStore = monotonicNanoseconds()
        linkHottest(chunk, &state)
        return (.stored, delta)
    }

    /// A new chunk for the target's index, linked to its object's record before it enters the table: a
    /// flush or a retirement of the record since the put's checks makes the link fail
    /// (``ObjectTable/link(_:)``), and the put is refused (or, for a retirement with no flush since the put
    /// began, tries the object's current record) instead of leaving a chunk that no flushObject finds.
    ///
    /// - Returns: The linked chunk, or nil when the object was flushed since the put began.
    private func linkedChunk(_ target: InsertTarget, _ start: ObjectRecord, _ state: inout ShardState) -> Chunk? {
        var record = start
        while true {
            let chunk = Chunk(
                base: target.place.chunkKey.base, ephemeral: target.ephemeral, record: record,
                usage: usageCell(target.place.chunkKey.pool, &state))
            if objects.link(chunk) { return chunk }
            guard record.current == .retired, let renewed = objects.renewed(record.name, since: target.flushes) else {
                return nil
            }
            record = renewed
        }
    }

    /// The stored bytes of a present entry (0 for a same-filled page).
    func entryBytes(_ chunk: Chunk, _ bit: Int) -> Int {
        chunk.isSameFilled(bit) ? 0 : storedBytes(chunk.ref(bit))
    }

    /// Removes one present entry, freeing its object; drops the chunk when it empties.
    func remove(_ chunk: Chunk, _ bit: Int, _ chunkKey: ChunkKey, _ state: inout ShardState) {
        release(chunk, bit, &state.counters)
        forget(chunk)
        account(&state, chunk.remove(bit))
        state.counters.storedPages -= 1
        if chunk.isEmpty { drop(chunk, chunkKey, &state) }
    }

    /// Drops a whole chunk and every entry in it.
    func drop(_ chunk: Chunk, _ chunkKey: ChunkKey, _ state: inout ShardState) {
        var bits = chunk.present
        while bits != 0 {
            release(chunk, bits.trailingZeroBitCount, &state.counters)
            forget(chunk)
            state.counters.storedPages -= 1
            bits &= bits &- 1
        }
        chunk.present = 0
        unlinkLRU(chunk, &state)
        account(&state, -chunk.cost)
        state.chunks[chunkKey] = nil
        objects.unlink(chunk)
    }

    /// Takes one page out of its pool's page counts (its bytes left with ``release``).
    private func forget(_ chunk: Chunk) {
        chunk.usage.add(pages: -1, storedBytes: 0)
        if chunk.ephemeral { ephemeralPages.subtract(1, ordering: .relaxed) }
    }

    /// Frees what an entry holds in the pool (a shared copy: one reference, and the object with the last)
    /// and takes its bytes out of the counters (not out of the chunk). A key's bytes leave its counters
    /// and meters in full, as they came, whether or not its copy stays for other keys.
    private func release(_ chunk: Chunk, _ bit: Int, _ counters: inout ShardCounters) {
        if chunk.isSameFilled(bit) {
            counters.sameFilledPages -= 1
            return
        }
        let ref = chunk.ref(bit)
        let bytes = storedBytes(ref)
        counters.comprDataSize -= bytes
        chunk.usage.add(pages: 0, storedBytes: -bytes)
        if ref.isHuge { counters.hugePages -= 1 }
        if discard(ref) { freesSinceCompaction.add(1, ordering: .relaxed) }
    }

    /// The pool's cell in this shard, made on first use with the pool's meters (the put that makes it
    /// found the pool live under this shard's lock, so its slot still holds them: a destroy drops the
    /// pool's chunks here, after this lock is released, before it lets the meters go).
    private func usageCell(_ pool: UInt32, _ state: inout ShardState) -> UsageCell {
        if let cell = state.usage[pool] { return cell }
        let cell = UsageCell(meters: pools[Int(pool) & (Self.maxPools - 1)].meters(of: pool))
        state.usage[pool] = cell
        return cell
    }

    private func account(_ state: inout ShardState, _ delta: Int) {
        guard delta != 0 else { return }
        state.counters.chunkBytes += delta
        chunkBytes.add(delta, ordering: .relaxed)
    }

    // MARK: LRU lists

    /// Makes a chunk the most recently used of its lists (an ephemeral hit), stamped now, so that the
    /// coldest chunks of a pool in different shards compare by their last use.
    func touch(_ chunk: Chunk, _ state: inout ShardState) {
        unlinkLRU(chunk, &state)
        chunk.lastStore = monotonicNanoseconds()
        linkHottest(chunk, &state)
    }

    private func unlinkLRU(_ chunk: Chunk, _ state: inout ShardState) {
        if chunk.ephemeral {
            unlink(chunk, &state.ephemeral)
            unlinkFromPool(chunk)
        } else {
            unlink(chunk, &state.persistent)
        }
    }

    private func linkHottest(_ chunk: Chunk, _ state: inout ShardState) {
        if chunk.ephemeral {
            link(chunk, &state.ephemeral)
            linkHottestInPool(chunk)
        } else {
            link(chunk, &state.persistent)
        }
    }

    /// The pool's own list (``UsageCell``), for ephemeral chunks.
    private func unlinkFromPool(_ chunk: Chunk) {
        let cell = chunk.usage
        if let older = chunk.poolOlder { older.poolNewer = chunk.poolNewer } else if cell.coldest === chunk { cell.coldest = chunk.poolNewer }
        if let newer = chunk.poolNewer { newer.poolOlder = chunk.poolOlder } else if cell.hottest === chunk { cell.hottest = chunk.poolOlder }
        chunk.poolOlder = nil
        chunk.poolNewer = nil
    }

    private func linkHottestInPool(_ chunk: Chunk) {
        let cell = chunk.usage
        chunk.poolOlder = cell.hottest
        chunk.poolNewer = nil
        cell.hottest?.poolNewer = chunk
        cell.hottest = chunk
        if cell.coldest == nil { cell.coldest = chunk }
    }

    private func unlink(_ chunk: Chunk, _ list: inout LRUList) {
        if let older = chunk.older { older.newer = chunk.newer } else if list.coldest === chunk { list.coldest = chunk.newer }
        if let newer = chunk.newer { newer.older = chunk.older } else if list.hottest === chunk { list.hottest = chunk.older }
        chunk.older = nil
        chunk.newer = nil
    }

    private func link(_ chunk: Chunk, _ list: inout LRUList) {
        chunk.older = list.hottest
        chunk.newer = nil
        list.hottest?.newer = chunk
        list.hottest = chunk
        if list.coldest == nil { list.coldest = chunk }
    }

    // MARK: Room

    /// Drops up to `chunks` of the coldest ephemeral chunks, one shard after another (no shard lock held
    /// by the caller).
    ///
    /// - Returns: The pages dropped.
    @discardableResult
    func evictEphemeral(chunks: Int) -> Int {
        guard ephemeralPages.load(ordering: .relaxed) > 0 else { return 0 }
        var dropped = 0
        var taken = 0
        var idle = 0
        var index = evictionCursor.wrappingAdd(1, ordering: .relaxed).oldValue
        while taken < chunks && idle < Self.shardCount {
            let pages = shards[index & (Self.shardCount - 1)].state.withLock { state -> Int in
                guard let chunk = state.ephemeral.coldest else { return 0 }
                return evict(chunk, &state)
            }
            index &+= 1
            if pages == 0 {
                idle += 1
                continue
            }
            idle = 0
            taken += 1
            dropped += pages
        }
        evictedPages.add(dropped, ordering: .relaxed)
        return dropped
    }

    /// Drops an ephemeral chunk to make room, counting its pages as evicted on its pool's meters (not
    /// on `evicted_pages`: the caller adds the total).
    ///
    /// - Returns: The pages dropped.
    func evict(_ chunk: Chunk, _ state: inout ShardState) -> Int {
        let count = chunk.count
        chunk.usage.countEvicted(count)
        drop(chunk, ChunkKey(pool: chunk.pool, base: chunk.base, object: chunk.object), &state)
        return count
    }

    /// Drops up to `pages` ephemeral pages from the coldest chunks, one shard after another (no shard
    /// lock held by the caller): what a put at the limit evicts to make room for its own page. Pages, not
    /// whole chunks: a chunk holds up to 64 neighbouring indexes whose heat may differ (a database's pages
    /// read at random), and a put needs about one page of room. The chunk stays where it is in the LRU
    /// order (eviction is not a use), so the next evictions go on draining it before warmer ones.
    ///
    /// - Returns: The pages dropped, counted in `evicted_pages` and on their pools' meters.
    @discardableResult
    func evictEphemeral(pages: Int) -> Int {
        guard ephemeralPages.load(ordering: .relaxed) > 0 else { return 0 }
        var dropped = 0
        var idle = 0
        var index = evictionCursor.wrappingAdd(1, ordering: .relaxed).oldValue
        while dropped < pages && idle < Self.shardCount {
            let n = shards[index & (Self.shardCount - 1)].state.withLock { state -> Int in
                var n = 0
                while n < pages - dropped, let chunk = state.ephemeral.coldest {
                    let key = ChunkKey(pool: chunk.pool, base: chunk.base, object: chunk.object)
                    let bit = 63 - chunk.present.leadingZeroBitCount
                    chunk.usage.countEvicted(1)
                    remove(chunk, bit, key, &state)
                    n += 1
                }
                return n
            }
            index &+= 1
            if n == 0 {
                idle += 1
                continue
            }
            idle = 0
            dropped += n
        }
        evictedPages.add(dropped, ordering: .relaxed)
        return dropped
    }

    /// Decides whether a store may proceed (no shard lock held): refuses at the limit, and keeps refusing
    /// until usage is back at the accept threshold (hysteresis), unless dropping ephemeral pages made room
    /// (then the put tries, and the check after allocation keeps the limit exact).
    func admit() -> Bool {
        let limit = limitBytes.load(ordering: .relaxed)
        let used = usage
        if limitHit.load(ordering: .relaxed) {
            if used <= acceptThreshold(limit) {
                limitHit.store(false, ordering: .relaxed)
            } else {
                return evictEphemeral(pages: Self.evictionPagesPerPut) > 0
            }
        }
        if used + Chunk.maxGrowth > limit {
            limitHit.store(true, ordering: .relaxed)
            return evictEphemeral(pages: Self.evictionPagesPerPut) > 0
        }
        return true
    }

    /// Ephemeral pages a put that needs room drops: two, a little more than the page it brings, so the
    /// cache turns over page for page at its limit (whole chunks dropped many pages per put, and the
    /// pool ran far below its limit). The spans their objects leave half empty come back to the OS by
    /// compaction (``performMaintenance()``), which is what lowers the usage the limit counts.
    static let evictionPagesPerPut = 2

    /// The usage at which a pool that hit `limit` accepts stores again.
    func acceptThreshold(_ limit: Int) -> Int { limit / 100 * acceptPercent + limit % 100 * acceptPercent / 100 }

    /// The usage past which the pool asks for persistent pages back.
    func highWatermark(_ limit: Int) -> Int {
        let percent = configuration.writebackHighPercent
        return limit / 100 * percent + limit % 100 * percent / 100
    }
}
