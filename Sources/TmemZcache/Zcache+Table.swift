#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Tmem
import TmemZPool

// The page table and LRU list of a shard. Every function here runs with the shard's lock held.
extension Zcache {
    /// Inserts or replaces a key's entry and makes its chunk the hottest.
    ///
    /// - Returns: false if the pool died meanwhile (the caller frees the object and refuses).
    func insert(_ key: Key, _ place: Place, value: UInt64, same: Bool, _ state: inout ShardState) -> Bool {
        guard isLive(key.pool) else { return false }
        let chunkKey = place.chunkKey
        let bit = place.bit
        let chunk: Chunk
        if let existing = state.chunks[chunkKey] {
            chunk = existing
            if chunk.contains(bit) {
                state.counters.duplicateEntry += 1
                release(chunk, bit, &state.counters)
            }
            unlink(chunk, &state)
        } else {
            chunk = Chunk(pool: chunkKey.pool, object: chunkKey.object, base: chunkKey.base)
            state.chunks[chunkKey] = chunk
            account(&state, chunk.cost)
        }
        let wasPresent = chunk.contains(bit)
        account(&state, chunk.set(bit, value: value, sameFilled: same))
        if !wasPresent { state.counters.storedPages += 1 }
        if same {
            state.counters.sameFilledPages += 1
        } else {
            let ref = ObjectRef(value)
            state.counters.comprDataSize += storedBytes(ref)
            if ref.isHuge { state.counters.hugePages += 1 }
        }
        chunk.lastStore = monotonicNanoseconds()
        linkHottest(chunk, &state)
        return true
    }

    /// Removes one present entry, freeing its object; drops the chunk when it empties.
    func remove(_ chunk: Chunk, _ bit: Int, _ chunkKey: ChunkKey, _ state: inout ShardState) {
        release(chunk, bit, &state.counters)
        account(&state, chunk.remove(bit))
        state.counters.storedPages -= 1
        if chunk.isEmpty { drop(chunk, chunkKey, &state) }
    }

    /// Drops a whole chunk and every entry in it.
    func drop(_ chunk: Chunk, _ chunkKey: ChunkKey, _ state: inout ShardState) {
        var bits = chunk.present
        while bits != 0 {
            release(chunk, bits.trailingZeroBitCount, &state.counters)
            state.counters.storedPages -= 1
            bits &= bits &- 1
        }
        unlink(chunk, &state)
        account(&state, -chunk.cost)
        state.chunks[chunkKey] = nil
    }

    /// Frees what an entry holds in the pool and takes it out of the counters (not out of the chunk).
    private func release(_ chunk: Chunk, _ bit: Int, _ counters: inout ShardCounters) {
        if chunk.isSameFilled(bit) {
            counters.sameFilledPages -= 1
            return
        }
        let ref = ObjectRef(chunk.value(bit))
        counters.comprDataSize -= storedBytes(ref)
        if ref.isHuge { counters.hugePages -= 1 }
        zpool.free(ZPoolHandle(rawValue: ref.handle))
        freesSinceCompaction.add(1, ordering: .relaxed)
    }

    private func account(_ state: inout ShardState, _ delta: Int) {
        guard delta != 0 else { return }
        state.counters.chunkBytes += delta
        chunkBytes.add(delta, ordering: .relaxed)
    }

    private func unlink(_ chunk: Chunk, _ state: inout ShardState) {
        if let older = chunk.older { older.newer = chunk.newer } else if state.coldest === chunk { state.coldest = chunk.newer }
        if let newer = chunk.newer { newer.older = chunk.older } else if state.hottest === chunk { state.hottest = chunk.older }
        chunk.older = nil
        chunk.newer = nil
    }

    private func linkHottest(_ chunk: Chunk, _ state: inout ShardState) {
        chunk.older = state.hottest
        chunk.newer = nil
        state.hottest?.newer = chunk
        state.hottest = chunk
        if state.coldest == nil { state.coldest = chunk }
    }

    /// Decides whether a store may proceed: refuses at the limit, and keeps refusing until usage is back
    /// at the accept threshold (hysteresis).
    func admit() -> Bool {
        let limit = limitBytes.load(ordering: .relaxed)
        let used = usage
        if limitHit.load(ordering: .relaxed) {
            guard used <= acceptThreshold(limit) else {
                compactIfFragmented()
                return false
            }
            limitHit.store(false, ordering: .relaxed)
        }
        if used + Chunk.maxGrowth > limit {
            limitHit.store(true, ordering: .relaxed)
            compactIfFragmented()
            return false
        }
        return true
    }
}

extension Zcache {
    /// The usage at which a pool that hit `limit` accepts stores again.
    func acceptThreshold(_ limit: Int) -> Int { limit / 100 * acceptPercent + limit % 100 * acceptPercent / 100 }
}

