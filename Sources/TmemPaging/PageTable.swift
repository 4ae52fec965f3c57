#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where one page of a region is, as the fault handler knows it.
///
/// Transitions (all made by the handler thread):
/// ```
///  missing ──read fault──► zero ──WP fault──► dirty ──evict (store)──► evicted ──fault──► clean / dirty
///     ▲   └──write fault──────────────────────┘ ▲                          ▲                    │
///     └───────── evict (drop) ── zero           └──────── WP fault ─ clean ┴── evict (drop) ────┘
/// ```
enum PageState: UInt8 {
    /// Never stored and not mapped: the next fault maps a zero page. Its frontswap slot is empty.
    case missing = 0
    /// Mapped as zeros and write-protected, never written: evicting it drops it back to `missing`.
    case zero = 1
    /// Mapped, write-protected, and its frontswap slot holds exactly these bytes: evicting it stores
    /// nothing ("clean eviction skipped").
    case clean = 2
    /// Mapped and writable (or written since it was mapped): evicting it stores it. Its slot is empty.
    case dirty = 3
    /// Not mapped; its frontswap slot holds its bytes (in transcendent memory or the swap file).
    case evicted = 4

    /// Whether the page is mapped in the region.
    var isResident: Bool { self == .zero || self == .clean || self == .dirty }
}

/// What the handler keeps per page: 8 bytes, in an array as long as the region.
struct PageMeta {
    /// A `PageState` raw value.
    var state: UInt8
    /// `PageMeta` flag bits.
    var flags: UInt8
    var reserved: UInt16
    /// The eviction clock when the page was last evicted (for its refault distance).
    var evictedAt: UInt32

    /// Readahead brought the page in and no fault has confirmed its use yet.
    static let prefetched: UInt8 = 1 << 0
    /// Written since it was mapped (a WP fault): promoted, rather than evicted, at the probation head.
    static let referenced: UInt8 = 1 << 1
    /// A prefetched page's one pass of grace at the probation head (the reader is on its way).
    static let grace: UInt8 = 1 << 2
    /// The page is on the protected list (else on probation).
    static let protected: UInt8 = 1 << 3
    /// The page is in the eviction batch in flight (on neither list): a fault on it waits for the batch.
    static let evicting: UInt8 = 1 << 4
}

/// The per-page metadata of a region: one `PageMeta` per page, in an anonymous `MAP_NORESERVE` mapping,
/// so that a huge, sparsely used region costs memory only for the pages it touched (8 bytes each, zeroed
/// by the kernel on first touch: `PageMeta` all zeros is a `missing` page).
///
/// Owned by the fault handler thread; nothing else reads or writes it while that thread runs.
struct PageTable: ~Copyable {
    private let entries: UnsafeMutablePointer<PageMeta>
    private let byteCount: Int
    /// The number of pages.
    let count: Int

    /// Reserves the table.
    ///
    /// - Throws: ``PagingError`` when the mapping cannot be made.
    init(count: Int) throws(PagingError) {
        self.count = count
        byteCount = max(count * MemoryLayout<PageMeta>.stride, 1)
        guard
            let mapped = mmap(
                nil,
                byteCount,
                PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                -1,
                0
            ),
            mapped != MAP_FAILED
        else { throw .systemCall("mmap of the page table (\(byteCount) bytes)", .current) }
        entries = mapped.bindMemory(to: PageMeta.self, capacity: count)
    }

    deinit { munmap(entries, byteCount) }

    @inline(__always)
    subscript(page: Int) -> PageMeta {
        get { entries[page] }
        nonmutating set { entries[page] = newValue }
    }

    @inline(__always)
    func state(_ page: Int) -> PageState { PageState(rawValue: entries[page].state)! }

    @inline(__always)
    func setState(_ page: Int, _ state: PageState) { entries[page].state = state.rawValue }
}

/// One list of resident pages, oldest first: a ring of page numbers. Pages join at the tail and leave at
/// the head (evicted, or moved to the tail of this or the other list): the lists are FIFOs, since no
/// access to a mapped page is seen.
///
/// Grows by doubling when full (only when the budget grows: the handler evicts before it maps, so the
/// lists hold at most the budget). Owned by the fault handler thread.
struct ResidentQueue: ~Copyable {
    private var slots: UnsafeMutablePointer<UInt32>
    private var capacity: Int
    private var head = 0
    /// The number of pages in the ring.
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = max(16, 1 << (Int.bitWidth - (max(capacity, 2) - 1).leadingZeroBitCount))
        slots = .allocate(capacity: self.capacity)
    }

    deinit { slots.deallocate() }

    /// Adds a page behind every other (the youngest).
    @inline(__always)
    mutating func append(_ page: Int) {
        if count == capacity { grow() }
        slots[(head + count) & (capacity - 1)] = UInt32(truncatingIfNeeded: page)
        count += 1
    }

    /// Takes the page under the hand (the oldest).
    @inline(__always)
    mutating func removeFirst() -> Int {
        precondition(count > 0, "the resident queue is empty")
        let page = Int(slots[head])
        head = (head + 1) & (capacity - 1)
        count -= 1
        return page
    }

    private mutating func grow() {
        let bigger = UnsafeMutablePointer<UInt32>.allocate(capacity: capacity * 2)
        for i in 0..<count { bigger[i] = slots[(head + i) & (capacity - 1)] }
        slots.deallocate()
        slots = bigger
        capacity *= 2
        head = 0
    }
}
