import Glibc
import Synchronization

// Spans: the arena and descriptor reservations, the raw-pointer view of them, and the pool of span indices.
//
// Lock ordering (see also ZPool.swift): a class lock may be held while taking `spanPool`; never the reverse.
// `spanPool` is a leaf lock and no system call runs under it.

/// Sentinel for "no span" in descriptor links and list heads.
let _noSpan = UInt32.max

/// Sentinel for "no object" in a span's free-list head and in the free objects' next links.
let _noObject: UInt8 = 0xFF

/// The tag of a free object slot. Allocated slots hold their slack (`objectSize - requestedSize`, 0...254).
let _freeTag: UInt8 = 0xFF

/// `classIndex` of a span that no class owns (on the free-span stack, or never used).
let _unusedClass: UInt8 = 0xFF

/// The bookkeeping for one span: 16 bytes in the descriptor array, indexed by span index.
///
/// Guarded by the owning class's lock while `classIndex` names a class, and by `spanPool` while the span
/// sits on the free-span stack. `classIndex` is also read without a lock by `withObject` and `free`, which
/// is sound for live handles: a span holding a live object cannot change owner.
struct _SpanDescriptor {
    /// Next span in the fullness-group list, or in the free-span stack.
    var next: UInt32
    /// Previous span in the fullness-group list (unused on the free-span stack).
    var prev: UInt32
    /// The owning size class, or `_unusedClass`.
    var classIndex: UInt8
    /// Objects currently allocated in the span.
    var inUse: UInt8
    /// First free object below `carved`, or `_noObject`; free objects link on through their first byte.
    var freeHead: UInt8
    /// Objects `0..<carved` have been handed out at least once; the rest of the span was never written,
    /// so a new span costs no page faults until its objects are used.
    var carved: UInt8
    /// Per-object size tags for classes with at most four objects per span, whose spans have no tail to
    /// keep them in (the 1024, 2048, 3072 and 4096-byte classes fill their pages exactly).
    var inlineTags: (UInt8, UInt8, UInt8, UInt8)

    static let size = 16
    static let inlineTagOffset = 12
    static let inlineTagCapacity = 4
}

/// An anonymous, private, unreserved mapping that is unmapped when its owner goes away.
struct _MappedRegion: ~Copyable, @unchecked Sendable {
    // @unchecked: the region only holds the address and length; every access to the bytes goes through
    // `_UnsafeArena`, whose callers follow the locking rules in ZPool.swift.
    let base: UnsafeMutableRawPointer
    let length: Int

    /// Reserves `length` bytes of address space; pages are committed on first touch.
    init(reserving length: Int, for what: String) throws(ZPoolError) {
        let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE
        let address = mmap(nil, length, PROT_READ | PROT_WRITE, flags, -1, 0)
        guard let address, address != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw .reservationFailed(what, bytes: length, errno: Glibc.errno)
        }
        self.base = address
        self.length = length
    }

    deinit {
        let result = munmap(base, length)
        precondition(result == 0, "ZPool: munmap of our own region failed (errno \(Glibc.errno))")
    }
}

/// A non-owning view of the arena and descriptor array: all pointer arithmetic of the pool lives here.
///
/// Copies never outlive the ``ZPool`` that owns the two `_MappedRegion`s they point into.
struct _UnsafeArena: @unchecked Sendable {
    // @unchecked: plain addresses into mappings the owning ZPool keeps alive for its whole lifetime;
    // concurrent access to the bytes is governed by the class locks and the handle contract.
    let base: UnsafeMutableRawPointer
    let descriptors: UnsafeMutablePointer<_SpanDescriptor>
    let spanCount: Int

    /// log2 of the span stride: span `i` starts at `base + i << strideShift`.
    static let strideShift = 16

    @inline(__always)
    func descriptor(_ span: UInt32) -> UnsafeMutablePointer<_SpanDescriptor> {
        descriptors + Int(span)
    }

    @inline(__always)
    func spanBase(_ span: UInt32) -> UnsafeMutableRawPointer {
        base + (Int(span) << Self.strideShift)
    }

    @inline(__always)
    func object(_ span: UInt32, _ object: Int, _ geometry: _ClassGeometry) -> UnsafeMutableRawPointer {
        spanBase(span) + object * geometry.objectSize
    }

    /// The span's size tags: inside the descriptor for small spans, else the last bytes of the span.
    @inline(__always)
    func tags(_ span: UInt32, _ geometry: _ClassGeometry) -> UnsafeMutablePointer<UInt8> {
        let raw =
            geometry.tagsInline
            ? UnsafeMutableRawPointer(descriptor(span)) + _SpanDescriptor.inlineTagOffset
            : spanBase(span) + geometry.tagOffset
        return raw.assumingMemoryBound(to: UInt8.self)
    }
}

/// The span indices not owned by any class. Guarded by `ZPool.spanPool`.
struct _SpanPoolState {
    /// Top of the stack of released spans (linked through `_SpanDescriptor.next`), or `_noSpan`.
    /// LIFO reuse keeps the used part of the descriptor array, and so `metadataBytes`, small.
    var freeTop = _noSpan
    /// Span indices `0..<highWater` have been handed out at least once; their descriptors are committed.
    var highWater: UInt32 = 0
    /// Bytes of spans currently owned by classes; mirrored in `spanBytesCounter`.
    var spanBytes = 0
}

extension ZPool {
    /// Takes a span index for a class: the most recently released one, else a never-used one.
    ///
    /// - Returns: The span index, or `nil` when every span of the arena is in use.
    /// - Note: Called with the requesting class's lock held (lock order: class, then `spanPool`).
    func acquireSpan(bytes: Int) -> UInt32? {
        spanPool.withLock { pool -> UInt32? in
            let span: UInt32
            if pool.freeTop != _noSpan {
                span = pool.freeTop
                pool.freeTop = arena.descriptor(span).pointee.next
            } else if Int(pool.highWater) < arena.spanCount {
                span = pool.highWater
                pool.highWater += 1
                let committed = Self.roundUpToPage(Int(pool.highWater) * _SpanDescriptor.size)
                metadataBytesCounter.store(tableBytes + committed, ordering: .relaxed)
            } else {
                return nil
            }
            pool.spanBytes += bytes
            spanBytesCounter.store(pool.spanBytes, ordering: .relaxed)
            maxSpanBytesCounter.max(pool.spanBytes, ordering: .relaxed)
            return span
        }
    }

    /// Gives an empty span's pages back to the OS and its index back to the free-span stack.
    ///
    /// - Note: Called with no lock held: `madvise` runs outside every lock, then `spanPool` is taken.
    ///   The caller has already detached the span from its class (`classIndex == _unusedClass`).
    func releaseSpan(_ span: UInt32, bytes: Int) {
        let result = madvise(arena.spanBase(span), bytes, Self.releaseAdvice)
        precondition(result == 0, "ZPool: madvise(MADV_FREE) on our own span failed (errno \(Glibc.errno))")
        spanPool.withLock { pool in
            arena.descriptor(span).pointee.next = pool.freeTop
            pool.freeTop = span
            pool.spanBytes -= bytes
            spanBytesCounter.store(pool.spanBytes, ordering: .relaxed)
        }
        spansFreedCounter.add(1, ordering: .relaxed)
    }

    /// How an empty span goes back to the OS: `MADV_FREE` (8), which lets the kernel take the pages
    /// when it needs memory but keeps them mapped until then, so a span reused soon after costs no page
    /// fault and no zeroing (jemalloc and tcmalloc purge the same way). `spanBytes` stops counting the
    /// span at once either way.
    static let releaseAdvice: Int32 = 8

    static func roundUpToPage(_ bytes: Int) -> Int {
        (bytes + pageSize - 1) & ~(pageSize - 1)
    }
}
