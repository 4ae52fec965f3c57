import Synchronization
import Tmem
import TmemZPool

extension Zcache {
    public var writebackWanted: Int {
        guard limitHit.load(ordering: .relaxed) else { return 0 }
        let limit = limitBytes.load(ordering: .relaxed)
        let used = usage
        let excess = used - acceptThreshold(limit)
        guard excess > 0 else { return 0 }
        // Convert bytes to pages at the pool's average cost per compressed object (at least 64 bytes, so
        // an almost empty pool asks for something sensible); counters only, no shard lock.
        let objects = zpool.stats.allocatedObjects
        let perPage = max(64, used / max(objects, 1))
        return min((excess + perPage - 1) / perPage, max(objects, 1))
    }

    public func coldestKeys(limit: Int) -> [Key] {
        guard limit > 0 else { return [] }
        // From each shard, its coldest chunks' keys with their chunk's last-store time; then the coldest
        // `limit` of all of them.
        var candidates: [(time: UInt64, key: Key)] = []
        for shard in shards {
            shard.state.withLock { state in
                var taken = 0
                var chunk = state.coldest
                while let c = chunk, taken < limit {
                    if kind(of: c.pool) == .persistent {
                        var bits = c.present
                        while bits != 0 {
                            let bit = bits.trailingZeroBitCount
                            bits &= bits &- 1
                            candidates.append((c.lastStore, Key(
                                pool: PoolID(rawValue: c.pool), object: ObjectID(rawValue: c.object),
                                index: PageIndex(rawValue: c.base + UInt32(bit)))))
                            taken += 1
                        }
                    }
                    chunk = c.newer
                }
            }
        }
        candidates.sort { $0.time < $1.time }
        return candidates.prefix(limit).map(\.key)
    }

    public func didWriteBack(_ key: Key) {
        writtenBack.add(1, ordering: .relaxed)
    }

    /// A snapshot of every counter (each shard read under its lock, not all at one instant).
    public var statistics: ZcacheStatistics {
        var s = ZcacheStatistics()
        var chunkBytes = 0
        for shard in shards {
            shard.state.withLock { state in
                let c = state.counters
                s.storedPages += c.storedPages
                s.sameFilledPages += c.sameFilledPages
                s.hugePages += c.hugePages
                s.comprDataSize += c.comprDataSize
                s.duplicateEntry += c.duplicateEntry
                chunkBytes += c.chunkBytes
            }
        }
        let pool = zpool.stats
        s.poolTotalSize = pool.spanBytes
        s.memUsedTotal = pool.spanBytes
        s.memUsedMax = max(pool.maxSpanBytes, 0)
        s.metadataBytes = chunkBytes + pool.metadataBytes
        s.origDataSize = s.storedPages * pageSize
        s.memLimit = limit
        s.poolLimitHit = poolLimitHit.load(ordering: .relaxed)
        s.rejectCompressPoor = rejectCompressPoor.load(ordering: .relaxed)
        s.rejectAllocFail = rejectAllocFail.load(ordering: .relaxed)
        s.writtenBackPages = writtenBack.load(ordering: .relaxed)
        s.corruptObjects = corruptObjects.load(ordering: .relaxed)
        return s
    }

    /// Moves objects out of sparsely used spans so that emptied spans go back to the OS (zsmalloc's
    /// compaction). Blocks every shard while it runs.
    ///
    /// - Returns: Bytes returned to the OS.
    /// - Complexity: O(stored pages): it builds a map from each object to its entry.
    @discardableResult
    public func compact() -> Int {
        freesSinceCompaction.store(0, ordering: .relaxed)
        // Every compressor slot first (no put is between allocating an object and entering it), then
        // every shard (no get reads an object while it moves).
        return compressors.withEverySlot { withEveryShard(0) { states in
            var owner: [UInt32: (Chunk, Int)] = [:]
            for state in states {
                for chunk in state.chunks.values {
                    var bits = chunk.present & ~chunk.sameFilled
                    while bits != 0 {
                        let bit = bits.trailingZeroBitCount
                        bits &= bits &- 1
                        owner[ObjectRef(chunk.value(bit)).handle] = (chunk, bit)
                    }
                }
            }
            return zpool.compact { old, new in
                guard let (chunk, bit) = owner.removeValue(forKey: old.rawValue) else {
                    preconditionFailure("compaction moved an object no entry refers to")
                }
                var ref = ObjectRef(chunk.value(bit))
                ref.handle = new.rawValue
                _ = chunk.set(bit, value: ref.value, sameFilled: false)
                // An object may move twice in one compaction.
                owner[new.rawValue] = (chunk, bit)
            }
        } }
    }

    /// Compacts when enough has been freed since the last time and the spans hold 10% more than the
    /// objects: cheap to check, and compaction may spare a round of writeback.
    func compactIfFragmented() {
        guard freesSinceCompaction.load(ordering: .relaxed) >= 1024 else { return }
        let pool = zpool.stats
        guard pool.spanBytes > pool.allocatedBytes + pool.allocatedBytes / 10 else { return }
        compact()
    }

    /// Runs `body` with every shard locked, taking the locks in index order.
    private func withEveryShard<R: Sendable>(_ i: Int, _ held: [ShardState] = [], _ body: ([ShardState]) -> R) -> R {
        guard i < shards.count else { return body(held) }
        return shards[i].state.withLock { state in withEveryShard(i + 1, held + [state], body) }
    }
}
