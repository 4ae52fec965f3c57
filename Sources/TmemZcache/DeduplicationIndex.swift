import Synchronization

/// The stored copies of ephemeral pages that other keys may share, found by a 64-bit hash of the page's
/// uncompressed bytes (Xen tmem's page content descriptors, `pcd`, in our words).
///
/// Each copy has one record: its hash, its entry value (handle, length, checksum) and its reference
/// count, the number of keys whose entries name it (plus a put in flight that took it and has not yet
/// entered its key). The copy's object is freed when the count falls to zero, by the release that took
/// it there, never earlier: evicting, flushing or overwriting one key of a shared copy only drops a
/// reference.
///
/// A hash names at most one copy. A page whose hash names a copy with other bytes (a collision, or a
/// copy that was damaged) is stored on its own, outside the index; so is a page whose twin was entered by
/// a racing put between its look-up and its own entry. Both only lose a saving, never correctness: the
/// hash only finds candidates, and a full compare of the bytes (``Zcache/sharedCopy(of:hash:_:)``)
/// decides.
///
/// ## Implementation Notes
/// - **Partitions.** Records live in ``partitionCount`` partitions by the hash's top bits, each behind
///   its own Mutex, so puts of different pages rarely meet on one lock. A deduplicated entry carries its
///   partition in its value (``ObjectRef/partition``), so a release finds its record without the hash.
/// - **Lock ordering:** a compressor slot → a Zcache shard lock → a partition lock (Zcache.swift states
///   the whole order). A partition is a leaf: nothing else is locked while one is held (the look-up maps
///   and decompresses the candidate, which takes no lock; a release frees the object after it lets the
///   partition go), and no path holds two partitions. A put looks a page up holding only its compressor
///   slot; a release runs under the shard lock of the key's chunk. While a partition is held, the
///   objects of its records cannot go: freeing one needs its last release, which needs the partition;
///   moving one needs compaction, which needs every compressor slot (and a put holds one).
/// - **Cost.** Each record costs about ``recordCost`` bytes of metadata (two hash-table entries), counted
///   against the limit like the page tables.
final class DeduplicationIndex: Sendable {
    /// Partitions: a power of two, twice the shards, so that puts of different pages on a few threads
    /// rarely contend; each costs an empty Mutex and two empty dictionaries.
    static let partitionCount = 64
    /// Metadata bytes per record: a `byHash` entry (12 bytes) and a `records` entry (36 bytes) at the
    /// dictionaries' load factor, rounded up.
    static let recordCost = 64

    /// One stored copy.
    struct Record {
        /// The hash of the page's bytes when it was put (see ``Zcache/pageHash(_:)``).
        var hash: UInt64
        /// The entry value every key sharing the copy carries (``ObjectRef/value``, deduplicated).
        var value: UInt64
        /// Keys naming the copy, plus puts in flight that took it.
        var refs: Int
        /// The copy's stored bytes (``Zcache/storedBytes(_:)``): what each extra reference saves.
        var bytes: Int
    }

    struct Partition {
        /// The copy a hash names, by its handle.
        var byHash: [UInt64: UInt32] = [:]
        var records: [UInt32: Record] = [:]
        /// References beyond the first, over all records: pages held without a copy of their own.
        var sharedPages = 0
        /// Their bytes: Σ (refs − 1) × bytes.
        var savedBytes = 0
    }

    final class Box: Sendable {
        let state = Mutex(Partition())
    }

    let partitions: [Box] = (0..<DeduplicationIndex.partitionCount).map { _ in Box() }
    /// Metadata bytes of every record, for the limit.
    let bytes = Atomic<Int>(0)
    /// Σ sharedPages over the partitions, readable without a lock (for ``Zcache/writebackWanted``).
    let sharedPages = Atomic<Int>(0)
    /// Puts that found their page stored and took a reference to it (Xen's "deduped puts").
    let deduplicatedPuts = Atomic<Int>(0)

    /// Metadata bytes of every record.
    var metadataBytes: Int { bytes.load(ordering: .relaxed) }
    /// Pages held without a copy of their own (``sharedPages``).
    var sharedPageCount: Int { sharedPages.load(ordering: .relaxed) }

    @inline(__always)
    static func partition(of hash: UInt64) -> Int { Int(truncatingIfNeeded: hash >> 58) & (partitionCount - 1) }

    /// Takes one more reference to the copy `hash` names, if `matches` finds its bytes equal to the page
    /// being put.
    ///
    /// - Parameters:
    ///   - hash: The page's hash.
    ///   - matches: Compares the candidate's stored bytes with the page; runs with the partition locked,
    ///     so the candidate's object stays where it is until it returns.
    /// - Returns: The shared copy's entry (the caller enters it under its key, or gives the reference back
    ///   with ``release(_:)``), or nil when no copy of these bytes is indexed.
    func share(_ hash: UInt64, matches: (ObjectRef) -> Bool) -> ObjectRef? {
        partitions[Self.partition(of: hash)].state.withLock { part -> ObjectRef? in
            guard let handle = part.byHash[hash], var record = part.records[handle] else { return nil }
            let ref = ObjectRef(record.value, deduplicated: true)
            guard matches(ref) else { return nil }
            record.refs += 1
            part.records[handle] = record
            part.sharedPages += 1
            part.savedBytes += record.bytes
            sharedPages.add(1, ordering: .relaxed)
            deduplicatedPuts.add(1, ordering: .relaxed)
            return ref
        }
    }

    /// Enters a new object as the copy of its hash, with one reference (the put's), unless the hash
    /// already names a copy.
    ///
    /// - Parameters:
    ///   - ref: The new object's entry, as it was allocated (not deduplicated).
    ///   - hash: The hash of the page it holds.
    ///   - bytes: Its stored bytes.
    /// - Returns: The entry to store (deduplicated, naming its partition), or nil when the hash was taken
    ///   (the page is then stored on its own, with `ref` as it is).
    func enter(_ ref: ObjectRef, hash: UInt64, bytes: Int) -> ObjectRef? {
        let partition = Self.partition(of: hash)
        let shared = ref.deduplicated(partition: partition)
        let entered = partitions[partition].state.withLock { part -> Bool in
            guard part.byHash[hash] == nil else { return false }
            part.byHash[hash] = ref.handle
            part.records[ref.handle] = Record(hash: hash, value: shared.value, refs: 1, bytes: bytes)
            return true
        }
        guard entered else { return nil }
        self.bytes.add(Self.recordCost, ordering: .relaxed)
        return shared
    }

    /// Gives back one reference to a copy.
    ///
    /// - Parameter ref: A deduplicated entry whose reference the caller holds.
    /// - Returns: true when it was the last: the record is gone and the caller frees the object (no one
    ///   can find it any more).
    /// - Precondition: The index holds the copy (a miss is a refcounting bug, and traps).
    func release(_ ref: ObjectRef) -> Bool {
        let last = partitions[ref.partition].state.withLock { part -> Bool in
            guard var record = part.records[ref.handle] else {
                preconditionFailure("a deduplicated entry names object \(ref.handle), which the index does not hold")
            }
            record.refs -= 1
            if record.refs == 0 {
                part.records[ref.handle] = nil
                part.byHash[record.hash] = nil
                return true
            }
            part.records[ref.handle] = record
            part.sharedPages -= 1
            part.savedBytes -= record.bytes
            return false
        }
        if last { bytes.subtract(Self.recordCost, ordering: .relaxed) } else { sharedPages.subtract(1, ordering: .relaxed) }
        return last
    }

    /// Follows compaction's moves of deduplicated objects, in the order they happened (an object may move
    /// twice). Runs with every compressor slot and every shard lock held, after the moves, so nothing
    /// reads a record between a move and this update.
    func relocate(_ moves: [(old: UInt32, new: UInt32, partition: Int)]) {
        for move in moves {
            partitions[move.partition].state.withLock { part in
                guard var record = part.records.removeValue(forKey: move.old) else {
                    preconditionFailure("compaction moved deduplicated object \(move.old), which the index does not hold")
                }
                record.value = record.value & ~0xFFFF_FFFF | UInt64(move.new)
                part.records[move.new] = record
                part.byHash[record.hash] = move.new
            }
        }
    }

    /// Totals over the partitions (each read under its lock, not all at one instant).
    func totals() -> (copies: Int, sharedPages: Int, savedBytes: Int) {
        var totals = (copies: 0, sharedPages: 0, savedBytes: 0)
        for box in partitions {
            box.state.withLock { part in
                totals.copies += part.records.count
                totals.sharedPages += part.sharedPages
                totals.savedBytes += part.savedBytes
            }
        }
        return totals
    }

    /// Every record's handle and reference count (for the invariant check of tests).
    func references() -> [UInt32: (refs: Int, partition: Int)] {
        var all: [UInt32: (refs: Int, partition: Int)] = [:]
        for (index, box) in partitions.enumerated() {
            box.state.withLock { part in
                for (handle, record) in part.records { all[handle] = (record.refs, index) }
            }
        }
        return all
    }
}
