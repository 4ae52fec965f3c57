import Synchronization
import Tmem

extension Zcache {
    /// Drops the coldest ephemeral chunks of some pools: how a host that shares one Zcache among clients
    /// takes memory back from the client it chose (the one furthest above its share), least recently used
    /// first within that client, instead of Zcache's own order (coldest chunk of each shard in turn, from
    /// every pool).
    ///
    /// Each shard keeps a list of every pool's ephemeral chunks in last-use order (a store or a hit), so
    /// this looks at no other pool's chunks: from each shard it takes the `chunks` coldest chunks of the
    /// given pools, then drops the coldest `chunks` of all of those by their last-use time. A chunk used
    /// again between the two steps is kept (the call then drops fewer).
    ///
    /// - Parameters:
    ///   - pools: The pools to take pages from (unknown, dead and persistent pools are skipped).
    ///   - chunks: The most chunks (runs of up to 64 neighbouring indexes of one object) to drop.
    /// - Returns: The pages dropped, counted in `evicted_pages` and on the pools' meters.
    /// - Complexity: Two visits of each shard: O(shards × pools × chunks) to choose, then O(chunks) to drop.
    @discardableResult
    public func evictEphemeral(from pools: [PoolID], chunks: Int) -> Int {
        guard chunks > 0, !pools.isEmpty, ephemeralPages.load(ordering: .relaxed) > 0 else { return 0 }
        var candidates: [(time: UInt64, shard: Int, key: ChunkKey)] = []
        for (index, shard) in shards.enumerated() {
            shard.state.withLock { state in
                for pool in pools {
                    guard let cell = state.usage[pool.rawValue] else { continue }
                    var chunk = cell.coldest
                    var taken = 0
                    while let c = chunk, taken < chunks {
                        candidates.append((c.lastStore, index, ChunkKey(pool: c.pool, base: c.base, object: c.object)))
                        taken += 1
                        chunk = c.poolNewer
                    }
                }
            }
        }
        candidates.sort { $0.time < $1.time }
        var dropped = 0
        for candidate in candidates.prefix(chunks) {
            dropped += shards[candidate.shard].state.withLock { state -> Int in
                guard let chunk = state.chunks[candidate.key], chunk.ephemeral, chunk.lastStore == candidate.time
                else { return 0 }
                return evict(chunk, &state)
            }
        }
        evictedPages.add(dropped, ordering: .relaxed)
        return dropped
    }

    /// Memory the pool uses now, as its limit counts it: the allocator's spans and tables plus every
    /// chunk and object record (``ZcacheStatistics/memUsedTotal`` + ``ZcacheStatistics/metadataBytes``).
    ///
    /// - Complexity: O(1): three atomic loads, no shard lock.
    public var footprintBytes: Int { usage }
}
