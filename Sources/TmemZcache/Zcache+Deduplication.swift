#if canImport(Glibc)
import Glibc
#endif
import Tmem
import TmemCompression
import TmemZPool

// Deduplication of ephemeral pages (``ZcacheConfiguration/deduplicateEphemeral``).
//
// A put into an ephemeral pool hashes its page (``pageHash(_:)``) and asks the index for a stored copy
// with that hash; the copy is shared only if its bytes, decompressed, equal the page's (a full compare:
// the hash only finds the candidate). Else the page is compressed as usual and its object entered as the
// copy of its hash. A key's entry then names the copy's object directly, so a get costs what it costs
// without deduplication: no index look-up, no extra lock.
//
// Why decompress and compare the page, not compare compressed bytes: equal pages compress to equal
// blocks only from one compressor at one level, and Zcache also keeps blocks that clients compressed
// themselves (``putCompressed(_:block:)``), possibly at another acceleration; and an equal hash with equal
// blocks would still rest on the compressor being deterministic. The decompression (about 1 µs for LZ4)
// replaces the compression the put would otherwise run (several µs), so a duplicate put is cheaper than
// a new one.
//
// Accounting: every key is charged its page's full stored bytes on its pools' meters and in
// `compr_data_size`, whether it shares a copy or not, so a pool's (and a client's) usage does not depend
// on what other pools hold, and a copy outliving its first owner never moves a charge from one owner to
// another. The real memory counts each copy once: the ZPool holds one object, and the limit, the
// footprint and `mem_used_total` see only that. `deduplicated_pages` and `dedup_saved_bytes` are the
// difference: references beyond the first of each copy, and their stored bytes.
//
// Lock ordering (with Zcache.swift's): the look-up holds the put's compressor slot and one index
// partition, no shard lock; a release holds the chunk's shard lock, then takes the entry's partition
// (shard → partition), and frees the object after letting the partition go; compaction holds every slot
// and every shard lock and updates the partitions after it moved the objects. No path takes a shard lock
// under a partition, nor anything else, so the partitions add no cycle: they are leaves, with only
// ZPool's (lock-free) object mapping used under them.
extension Zcache {
    /// Whether a put into this target goes through the deduplication index.
    @inline(__always)
    func deduplicates(_ target: InsertTarget) -> Bool { target.ephemeral && deduplication != nil }

    /// A 64-bit hash of a page's bytes, to find candidates for sharing (not a checksum of record, and
    /// not collision-resistant: a full compare always decides).
    ///
    /// Four independent lanes over the page's 8-byte words, each step a xor, a multiply by an odd
    /// constant and a xorshift (a bijection, so a lane loses nothing it has seen), then the lanes folded
    /// and mixed so that every input bit reaches the top six (the index partition). About 0.3 µs a page.
    static func pageHash(_ page: UnsafeRawBufferPointer) -> UInt64 {
        precondition(page.count == pageSize, "a page is \(pageSize) bytes")
        @inline(__always) func step(_ lane: UInt64, _ word: UInt64) -> UInt64 {
            let x = (lane ^ word) &* 0xA24B_AED4_963E_E407
            return x ^ (x >> 29)
        }
        var a: UInt64 = 0x243F_6A88_85A3_08D3, b: UInt64 = 0x1319_8A2E_0370_7344
        var c: UInt64 = 0xA409_3822_299F_31D0, d: UInt64 = 0x082E_FA98_EC4E_6C89
        var offset = 0
        while offset < pageSize {
            a = step(a, page.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            b = step(b, page.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
            c = step(c, page.loadUnaligned(fromByteOffset: offset + 16, as: UInt64.self))
            d = step(d, page.loadUnaligned(fromByteOffset: offset + 24, as: UInt64.self))
            offset += 32
        }
        var h = step(step(step(a, b), c), d)
        h = (h ^ (h >> 32)) &* 0x9FB2_1C65_1E98_DF25
        return h ^ (h >> 31)
    }

    /// Takes a reference to a stored copy of `page`, if one is indexed under `hash` and its bytes equal
    /// the page's (compressor slot held, no shard lock; the slot's scratch below ``pageSize`` is used).
    ///
    /// A damaged candidate is not an error here: it differs from the page (no sharing), or decodes to
    /// exactly the page's bytes (then sharing it returns the right bytes, and its checksum still reports
    /// the damage on get). A racing writer changing `page` meanwhile gets what a torn copy gets: bytes the
    /// page held, one at a time.
    ///
    /// - Returns: The copy's entry, its reference taken for the put; nil to store the page on its own.
    func sharedCopy(of page: UnsafeRawBufferPointer, hash: UInt64, _ slot: inout CompressorPool.Slot) -> ObjectRef? {
        guard let deduplication else { return nil }
        let scratch = UnsafeMutableRawBufferPointer(rebasing: slot.scratch[0..<pageSize])
        return deduplication.share(hash) { candidate in
            zpool.withObject(ZPoolHandle(rawValue: candidate.handle)) { object -> Bool in
                if candidate.isHuge { return memcmp(object.baseAddress!, page.baseAddress!, pageSize) == 0 }
                let block = UnsafeRawBufferPointer(rebasing: object[0..<candidate.length])
                do throws(CompressionError) {
                    try slot.compressor.decompress(block, into: scratch)
                } catch {
                    return false
                }
                return memcmp(scratch.baseAddress!, page.baseAddress!, pageSize) == 0
            }
        }
    }

    /// A new object of an ephemeral page, entered as the copy of its hash when the hash names no copy
    /// yet (else kept on its own, as allocated). No shard lock held.
    func indexed(_ ref: ObjectRef, hash: UInt64?) -> ObjectRef {
        guard let hash, let deduplication else { return ref }
        return deduplication.enter(ref, hash: hash, bytes: storedBytes(ref)) ?? ref
    }

    /// Gives up an object an entry (or a refused put) held: frees it, or for a shared copy drops one
    /// reference and frees it with the last (any lock but a partition's may be held).
    ///
    /// - Returns: Whether the object was freed.
    @discardableResult
    func discard(_ ref: ObjectRef) -> Bool {
        if ref.isDeduplicated, let deduplication, !deduplication.release(ref) { return false }
        zpool.free(ZPoolHandle(rawValue: ref.handle))
        return true
    }
}
