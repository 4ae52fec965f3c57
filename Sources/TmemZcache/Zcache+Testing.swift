import Tmem
import TmemZPool

extension Zcache {
    /// Runs `body` on the stored compressed object of `key` (nil if the key is absent or same-filled),
    /// with the key's shard locked: for tests that damage an object on purpose.
    func withStoredObject<R>(_ key: Key, _ body: (UnsafeMutableRawBufferPointer) -> R) -> R? {
        let place = locate(key)
        let bit = place.bit
        nonisolated(unsafe) var result: R?
        place.shard.state.withLock { state in
            guard let chunk = state.chunks[place.chunkKey], chunk.contains(bit), !chunk.isSameFilled(bit) else { return }
            let ref = chunk.ref(bit)
            zpool.withObject(ZPoolHandle(rawValue: ref.handle)) { object in
                result = body(UnsafeMutableRawBufferPointer(rebasing: object[0..<ref.length]))
            }
        }
        return result
    }
}

extension Zcache {
    /// What breaks the deduplication invariants, as sentences (empty: none), checked with every
    /// compressor slot and shard lock held (so no put is in flight): every deduplicated entry names a
    /// copy the index holds, in the partition its value says, with as many references as entries name
    /// it; no other entry shares an object; and the index's gauges add up. For tests, at quiescence.
    ///
    /// - Complexity: O(stored pages), every put and get stopped meanwhile.
    func deduplicationViolations() -> [String] {
        compressors.withEverySlot { withEveryShard(0) { states -> [String] in
            var violations: [String] = []
            var named: [UInt32: (count: Int, partition: Int?)] = [:]
            for state in states {
                for chunk in state.chunks.values {
                    if chunk.deduplicated & ~chunk.present != 0 || chunk.deduplicated & chunk.sameFilled != 0 {
                        violations.append("chunk \(chunk.pool)/\(chunk.object)/\(chunk.base) marks entries it does not hold")
                    }
                    if !chunk.ephemeral, chunk.deduplicated != 0 {
                        violations.append("persistent chunk \(chunk.pool)/\(chunk.object)/\(chunk.base) shares objects")
                    }
                    var bits = chunk.present & ~chunk.sameFilled
                    while bits != 0 {
                        let bit = bits.trailingZeroBitCount
                        bits &= bits &- 1
                        let ref = chunk.ref(bit)
                        let seen = named[ref.handle]
                        named[ref.handle] = ((seen?.count ?? 0) + 1, ref.isDeduplicated ? ref.partition : nil)
                        if seen != nil, seen?.partition == nil || !ref.isDeduplicated {
                            violations.append("object \(ref.handle) is named by a private entry and another")
                        }
                    }
                }
            }
            guard let deduplication else { return violations }
            let records = deduplication.references()
            var extra = 0
            for (handle, record) in records {
                extra += record.refs - 1
                guard let entries = named[handle], let partition = entries.partition else {
                    violations.append("the index holds object \(handle), which no deduplicated entry names")
                    continue
                }
                if entries.count != record.refs {
                    violations.append("object \(handle) has \(record.refs) references and \(entries.count) entries")
                }
                if partition != record.partition {
                    violations.append("entries of object \(handle) name partition \(partition), it is in \(record.partition)")
                }
            }
            for (handle, entries) in named where entries.partition != nil && records[handle] == nil {
                violations.append("deduplicated object \(handle) is not in the index")
            }
            let totals = deduplication.totals()
            if totals.sharedPages != extra || deduplication.sharedPageCount != extra {
                violations.append("deduplicated_pages is \(totals.sharedPages) (gauge \(deduplication.sharedPageCount)), references say \(extra)")
            }
            if deduplication.metadataBytes != records.count * DeduplicationIndex.recordCost {
                violations.append("the index counts \(deduplication.metadataBytes) bytes for \(records.count) records")
            }
            return violations
        } }
    }
}
