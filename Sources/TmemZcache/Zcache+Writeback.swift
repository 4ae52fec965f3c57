import Synchronization
import Tmem
import TmemZPool

extension Zcache {
    /// Persistent pages to repatriate: none until usage passes the high watermark (or a store hit the
    /// limit), then enough to bring usage to the accept threshold at the pool's average cost per page,
    /// leaving out what the ephemeral pages take (they are dropped, not written back) and never more than
    /// the persistent objects held (the allocator's fixed tables cannot be written back, so a limit below
    /// them asks for every persistent page once, then for nothing). Freed objects return their spans only
    /// after compaction, which the reclaimer runs between rounds, so each round's answer counts what the
    /// last one gave back. Counters only, no shard lock.
    public var writebackWanted: Int {
        let limit = limitBytes.load(ordering: .relaxed)
        let used = usage
        guard limitHit.load(ordering: .relaxed) || used > highWatermark(limit) else { return 0 }
        let pool = zpool.stats
        // Ephemeral objects: ephemeral pages less those sharing another key's copy.
        let ephemeral = ephemeralPages.load(ordering: .relaxed) - (deduplication?.sharedPageCount ?? 0)
        let persistentObjects = pool.allocatedObjects - ephemeral
        guard persistentObjects > 0 else { return 0 }
        // Bytes to pages at the pool's average cost per compressed object (at least 64 bytes, so an
        // almost empty pool asks for something sensible).
        let perPage = max(64, used / max(pool.allocatedObjects, 1))
        let excess = used - acceptThreshold(limit) - ephemeral * perPage
        guard excess > 0 else { return 0 }
        return min((excess + perPage - 1) / perPage, persistentObjects)
    }

    public func coldestKeys(limit: Int) -> [Key] {
        guard limit > 0 else { return [] }
        // From each shard, its coldest persistent chunks' keys with their chunk's last-store time; then
        // the coldest `limit` of all of them.
        var candidates: [(time: UInt64, key: Key)] = []
        for shard in shards {
            shard.state.withLock { state in
                var taken = 0
                var chunk = state.persistent.coldest
                while let c = chunk, taken < limit {
                    var bits = c.present
                    while bits != 0 {
                        let bit = bits.trailingZeroBitCount
                        bits &= bits &- 1
                        candidates.append((c.lastStore, Key(
                            pool: PoolID(rawValue: c.pool), object: ObjectID(rawValue: c.object),
                            index: PageIndex(rawValue: c.base + UInt32(bit)))))
                        taken += 1
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
        s.metadataBytes = chunkBytes + pool.metadataBytes + objects.bytes.load(ordering: .relaxed)
        s.origDataSize = s.storedPages * pageSize
        s.memLimit = capacity
        s.poolLimitHit = poolLimitHit.load(ordering: .relaxed)
        s.rejectCompressPoor = rejectCompressPoor.load(ordering: .relaxed)
        s.rejectAllocFail = rejectAllocFail.load(ordering: .relaxed)
        s.rejectNoSuchPool = rejectNoSuchPool.load(ordering: .relaxed)
        s.rejectInvalidated = rejectInvalidated.load(ordering: .relaxed)
        s.writtenBackPages = writtenBack.load(ordering: .relaxed)
        s.evictedPages = evictedPages.load(ordering: .relaxed)
        s.corruptObjects = corruptObjects.load(ordering: .relaxed)
        if let deduplication {
            let totals = deduplication.totals()
            s.deduplicatedPages = totals.sharedPages
            s.dedupSavedBytes = totals.savedBytes
            s.deduplicatedPuts = deduplication.deduplicatedPuts.load(ordering: .relaxed)
            s.metadataBytes += deduplication.metadataBytes
        }
        return s
    }

    public var namedStatistics: [(name: String, value: Int)] { statistics.namedValues.map { ($0.0, $0.1) } }
}

extension Zcache {
    /// Size classes compacted per ``performMaintenance()`` step: about 1/8 of them, so a pass is eight
    /// short pauses rather than one long one.
    static let classesPerCompactionStep = 25

    /// One step of background compaction, when the pool is fragmented (enough frees since the last pass,
    /// or any since a store hit the limit; and spans holding 10% more than their objects): a few size classes at a
    /// time, each step holding
    /// every shard lock only while its classes' objects move.
    ///
    /// - Returns: true while the pass has classes left.
    public func performMaintenance() -> Bool {
        var cursor = compactionCursor.load(ordering: .relaxed)
        if cursor == 0 {
            let frees = freesSinceCompaction.load(ordering: .relaxed)
            guard frees >= 1024 || (frees > 0 && limitHit.load(ordering: .relaxed)) else { return false }
            let pool = zpool.stats
            guard pool.spanBytes > pool.allocatedBytes + pool.allocatedBytes / 10 else { return false }
            freesSinceCompaction.store(0, ordering: .relaxed)
        }
        let end = min(cursor + Self.classesPerCompactionStep, zpool.sizeClassCount)
        compact(sizeClasses: cursor..<end)
        cursor = end == zpool.sizeClassCount ? 0 : end
        compactionCursor.store(cursor, ordering: .relaxed)
        return cursor != 0
    }

    /// Moves objects out of sparsely used spans so that emptied spans go back to the OS (zsmalloc's
    /// compaction), all size classes at once. Blocks every shard while it runs; the reclaimer uses
    /// ``performMaintenance()`` instead, which does the same in steps.
    ///
    /// - Returns: Bytes returned to the OS.
    /// - Complexity: O(stored pages): it builds a map from each object to its entry.
    @discardableResult
    public func compact() -> Int {
        freesSinceCompaction.store(0, ordering: .relaxed)
        return compact(sizeClasses: 0..<zpool.sizeClassCount)
    }

    /// Compacts some size classes, with every compressor slot (no put is between allocating an object, or
    /// taking a reference to a shared copy, and entering it) and every shard (no get reads an object while
    /// it moves) held. A shared copy's every entry follows its move, then its index record.
    @discardableResult
    func compact(sizeClasses: Range<Int>) -> Int {
        compressors.withEverySlot { withEveryShard(0) { states in
            // One entry per object; the further entries of shared copies apart, so the common case stays
            // one dictionary entry per object.
            var owner: [UInt32: (Chunk, Int)] = [:]
            var sharers: [UInt32: [(Chunk, Int)]] = [:]
            for state in states {
                for chunk in state.chunks.values {
                    var bits = chunk.present & ~chunk.sameFilled
                    while bits != 0 {
                        let bit = bits.trailingZeroBitCount
                        bits &= bits &- 1
                        let handle = ObjectRef(chunk.value(bit)).handle
                        guard sizeClasses.contains(zpool.sizeClassIndex(of: ZPoolHandle(rawValue: handle))) else { continue }
                        if chunk.isDeduplicated(bit), owner[handle] != nil {
                            sharers[handle, default: []].append((chunk, bit))
                        } else {
                            owner[handle] = (chunk, bit)
                        }
                    }
                }
            }
            guard !owner.isEmpty else { return 0 }
            var moves: [(old: UInt32, new: UInt32, partition: Int)] = []
            let freed = zpool.compact(sizeClasses: sizeClasses) { old, new in
                guard let (chunk, bit) = owner.removeValue(forKey: old.rawValue) else {
                    preconditionFailure("compaction moved an object no entry refers to")
                }
                let ref = chunk.ref(bit)
                Self.repoint(chunk, bit, to: new.rawValue)
                if let more = sharers.removeValue(forKey: old.rawValue) {
                    for (other, otherBit) in more { Self.repoint(other, otherBit, to: new.rawValue) }
                    sharers[new.rawValue] = more
                }
                if ref.isDeduplicated { moves.append((old.rawValue, new.rawValue, ref.partition)) }
                // An object may move twice in one compaction.
                owner[new.rawValue] = (chunk, bit)
            }
            deduplication?.relocate(moves)
            return freed
        } }
    }

    /// Points an entry at its object's new place (every shard lock held).
    private static func repoint(_ chunk: Chunk, _ bit: Int, to handle: UInt32) {
        var ref = chunk.ref(bit)
        ref.handle = handle
        _ = chunk.set(bit, value: ref.value, sameFilled: false, deduplicated: ref.isDeduplicated)
    }

    /// Runs `body` with every shard locked, taking the locks in index order.
    func withEveryShard<R: Sendable>(_ i: Int, _ held: [ShardState] = [], _ body: ([ShardState]) -> R) -> R {
        guard i < shards.count else { return body(held) }
        return shards[i].state.withLock { state in withEveryShard(i + 1, held + [state], body) }
    }
}
