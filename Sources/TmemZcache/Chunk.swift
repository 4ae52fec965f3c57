import Tmem
/// The entries of 64 consecutive indexes of one object: Zcache's page table, paid for per stored page.
///
/// A chunk holds a presence bitmap, a same-filled bitmap and a packed array of one 8-byte value per
/// present index (position = number of present indexes below it), so a chunk with n pages costs its
/// header plus 8 bytes per page, rounded up to the array's capacity step. A value is either the page's
/// repeated word (same-filled pages: no pool memory at all) or an ``ObjectRef`` into the ZPool.
///
/// Chunks of a shard form a doubly-linked list in least-recently-stored order (by the last store into
/// any of their pages): writeback and shrink take pages from the cold end. The order is per chunk, not
/// per page, which is what buys the small entry: a swap area hands out neighbouring slots to pages
/// swapped out together, so a chunk's pages are about as old as each other.
///
/// Every field is guarded by the lock of the shard that owns the chunk (see `Zcache.Shard`).
final class Chunk: @unchecked Sendable {
    // @unchecked: a chunk is reachable only from its shard's state, which lives inside that shard's
    // Mutex; every read and write happens with that lock held.
    let pool: UInt32
    let object: UInt64
    /// The first index this chunk covers (a multiple of 64).
    let base: UInt32
    /// Whether its pool is ephemeral (then it sits on the shard's ephemeral LRU list, else on the
    /// persistent one).
    let ephemeral: Bool
    /// Its object's record: invalidated when the object is flushed (``ObjectRecord``).
    let record: ObjectRecord
    /// Its pool's place in this shard: the meters its changes go to, and the pool's ephemeral list.
    let usage: UsageCell
    /// Neighbours in its record's chunk list, guarded by the record's ObjectTable shard lock.
    unowned(unsafe) var nextInObject: Chunk?
    unowned(unsafe) var previousInObject: Chunk?
    var present: UInt64 = 0
    var sameFilled: UInt64 = 0
    /// Entries whose object is a copy shared through the ``DeduplicationIndex`` (ephemeral chunks only).
    var deduplicated: UInt64 = 0
    private(set) var values: UnsafeMutablePointer<UInt64>
    private(set) var capacity: Int
    /// When a page was last stored into this chunk (CLOCK_MONOTONIC nanoseconds).
    var lastStore: UInt64 = 0
    /// LRU neighbours: `older` towards the cold end. Unowned: the shard's table owns every chunk.
    unowned(unsafe) var older: Chunk?
    unowned(unsafe) var newer: Chunk?
    /// An ephemeral chunk's neighbours in its pool's own LRU list in this shard (``UsageCell``), so the
    /// coldest pages of one pool are found without walking the others'.
    unowned(unsafe) var poolOlder: Chunk?
    unowned(unsafe) var poolNewer: Chunk?

    /// Bytes one chunk costs besides its value array: the object (about 160 bytes after malloc's
    /// rounding) and its share of the shard's hash table (about 32 bytes per entry at its load factor).
    static let fixedCost = 192
    /// The most one insertion can add to a chunk's cost (a new chunk, or an array doubling to 64).
    static let maxGrowth = fixedCost + 32 * 8

    /// Smallest value array: 4 entries, so a chunk with a single page costs about 160 bytes.
    static let minimumCapacity = 4

    init(base: UInt32, ephemeral: Bool, record: ObjectRecord, usage: UsageCell) {
        self.pool = record.name.pool
        self.object = record.name.object
        self.base = base
        self.ephemeral = ephemeral
        self.record = record
        self.usage = usage
        capacity = Self.minimumCapacity
        values = .allocate(capacity: capacity)
    }

    deinit { values.deallocate() }

    var count: Int { present.nonzeroBitCount }
    var isEmpty: Bool { present == 0 }
    /// Bytes of metadata this chunk costs now.
    var cost: Int { Self.fixedCost + capacity * 8 }

    @inline(__always)
    private func position(_ bit: Int) -> Int { (present & ((1 << UInt64(bit)) &- 1)).nonzeroBitCount }

    @inline(__always)
    func contains(_ bit: Int) -> Bool { present & (1 << UInt64(bit)) != 0 }

    @inline(__always)
    func isSameFilled(_ bit: Int) -> Bool { sameFilled & (1 << UInt64(bit)) != 0 }

    @inline(__always)
    func isDeduplicated(_ bit: Int) -> Bool { deduplicated & (1 << UInt64(bit)) != 0 }

    @inline(__always)
    func value(_ bit: Int) -> UInt64 { values[position(bit)] }

    /// The object of a present entry that is not same-filled.
    @inline(__always)
    func ref(_ bit: Int) -> ObjectRef { ObjectRef(value(bit), deduplicated: isDeduplicated(bit)) }

    /// Sets the value of an index, inserting it if absent.
    ///
    /// - Returns: The change in ``cost`` (the array may grow).
    func set(_ bit: Int, value: UInt64, sameFilled same: Bool, deduplicated shared: Bool = false) -> Int {
        let mask: UInt64 = 1 << UInt64(bit)
        let p = position(bit)
        var grown = 0
        if present & mask == 0 {
            let n = count
            if n == capacity {
                let bigger = min(capacity * 2, 64)
                let array = UnsafeMutablePointer<UInt64>.allocate(capacity: bigger)
                array.moveInitialize(from: values, count: n)
                values.deallocate()
                values = array
                grown = (bigger - capacity) * 8
                capacity = bigger
            }
            (values + p + 1).moveInitialize(from: values + p, count: n - p)
            present |= mask
        }
        values[p] = value
        if same { sameFilled |= mask } else { sameFilled &= ~mask }
        if shared { deduplicated |= mask } else { deduplicated &= ~mask }
        return grown
    }

    /// Removes an index (which must be present).
    ///
    /// - Returns: The change in ``cost`` (the array shrinks when a quarter full).
    func remove(_ bit: Int) -> Int {
        let mask: UInt64 = 1 << UInt64(bit)
        let p = position(bit)
        let n = count
        (values + p).moveInitialize(from: values + p + 1, count: n - p - 1)
        present &= ~mask
        sameFilled &= ~mask
        deduplicated &= ~mask
        let left = n - 1
        guard capacity > Self.minimumCapacity, left <= capacity / 4 else { return 0 }
        let smaller = capacity / 2
        let array = UnsafeMutablePointer<UInt64>.allocate(capacity: smaller)
        array.moveInitialize(from: values, count: left)
        values.deallocate()
        values = array
        let shrunk = (smaller - capacity) * 8
        capacity = smaller
        return shrunk
    }
}

/// A compressed page's place in the pool, packed in a chunk's 8-byte value: the ZPool handle (low 32
/// bits), then either the compressed length (13 bits) or, for a page stored uncompressed (bit 63 set), a
/// 31-bit checksum of its bytes. The object of a compressed page carries its own 32-bit checksum after
/// the compressed bytes; an uncompressed page fills its 4096-byte object, so its checksum lives here.
///
/// A deduplicated entry (its chunk's ``Chunk/deduplicated`` bit set: the object is a copy shared through
/// the ``DeduplicationIndex``) also names the copy's index partition in 6 bits: bits 45...50 after a
/// compressed length, bits 57...62 after an uncompressed page's checksum, which then keeps 25 bits (a
/// damaged shared huge object goes unnoticed with probability 2^-25 instead of 2^-31). The flag lives in
/// the chunk, not in the value, so that entries of a Zcache without deduplication keep every bit.
struct ObjectRef: Equatable {
    var handle: UInt32
    /// The compressed length, or 4096 for a page stored uncompressed.
    var length: Int
    /// For a page stored uncompressed: the low bits of its checksum (``checksumMask``).
    var hugeChecksum: UInt32 = 0
    /// Whether the object is a copy in the ``DeduplicationIndex`` (then `partition` names its partition).
    var isDeduplicated = false
    var partition = 0

    static let hugeFlag: UInt64 = 1 << 63

    init(handle: UInt32, length: Int) {
        self.handle = handle
        self.length = length
    }

    init(_ value: UInt64, deduplicated: Bool = false) {
        handle = UInt32(truncatingIfNeeded: value)
        isDeduplicated = deduplicated
        if value & Self.hugeFlag != 0 {
            length = 4096
            hugeChecksum = UInt32(truncatingIfNeeded: value >> 32) & (deduplicated ? 0x1FF_FFFF : 0x7FFF_FFFF)
            if deduplicated { partition = Int(truncatingIfNeeded: value >> 57) & 0x3F }
        } else {
            length = Int((value >> 32) & 0x1FFF)
            if deduplicated { partition = Int(truncatingIfNeeded: value >> 45) & 0x3F }
        }
    }

    var value: UInt64 {
        let shared = isDeduplicated ? UInt64(partition & 0x3F) << (isHuge ? 57 : 45) : 0
        return isHuge
            ? UInt64(handle) | Self.hugeFlag | UInt64(hugeChecksum & checksumMask) << 32 | shared
            : UInt64(handle) | UInt64(length) << 32 | shared
    }
    var isHuge: Bool { length == 4096 }

    /// The bits of an uncompressed page's checksum its entry keeps: 31, or 25 when deduplicated.
    var checksumMask: UInt32 { isDeduplicated ? 0x1FF_FFFF : 0x7FFF_FFFF }

    /// The same object as a deduplicated entry of index partition `partition` (a huge page's checksum
    /// cut to the bits such an entry keeps).
    func deduplicated(partition: Int) -> ObjectRef {
        var ref = self
        ref.isDeduplicated = true
        ref.partition = partition
        ref.hugeChecksum &= ref.checksumMask
        return ref
    }
}

/// A pool's place in one shard: a class so every chunk of the pool in the shard can point at it.
///
/// It holds the pool's meters (its own first, then those its creator attached), to which every change
/// of the pool's pages and stored bytes goes, and the shard's LRU list of the pool's ephemeral chunks
/// (``Chunk/poolOlder``), from which ``Zcache/evictEphemeral(from:chunks:)`` takes the coldest.
/// The list is guarded by the shard's lock; the meters are atomic.
final class UsageCell: @unchecked Sendable {
    // @unchecked: the list heads are only touched with the owning shard's Mutex held; the meters are
    // Sendable.
    let meters: [UsageMeter]
    unowned(unsafe) var coldest: Chunk?
    unowned(unsafe) var hottest: Chunk?

    init(meters: [UsageMeter]) { self.meters = meters }

    /// Adds a change to every meter of the pool (shard lock held).
    @inline(__always)
    func add(pages: Int, storedBytes: Int) {
        for meter in meters { meter.add(pages: pages, storedBytes: storedBytes) }
    }

    /// Counts pages dropped by eviction on every meter of the pool (shard lock held).
    func countEvicted(_ pages: Int) {
        for meter in meters { meter.addEvicted(pages) }
    }
}
