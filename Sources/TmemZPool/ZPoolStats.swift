/// A snapshot of a ``ZPool``'s counters; the userspace face of zsmalloc's `zs_pool_stats` and the
/// `pool_total_size` zswap reports.
///
/// Each field is read from its own atomic, so a snapshot taken while other threads allocate is not
/// a consistent cut: fields may disagree by the operations in flight. Taken when the pool is quiescent,
/// the snapshot is exact.
public struct ZPoolStats: Sendable, Equatable {
    /// Objects currently allocated (allocations minus frees).
    public var allocatedObjects: Int

    /// Sum of the sizes callers asked for, over the objects currently allocated.
    public var allocatedBytes: Int

    /// Bytes of spans currently held from the OS: the honest memory footprint of the objects, counting
    /// internal slack, per-object size tags stored in spans, and free slots in partly used spans.
    public var spanBytes: Int

    /// Bookkeeping memory outside the spans: committed pages of the span descriptor array and the class
    /// tables. `spanBytes + metadataBytes` is the pool's whole footprint.
    public var metadataBytes: Int

    /// The largest value ``spanBytes`` has reached since the pool was created.
    public var maxSpanBytes: Int

    /// Spans given back to the OS so far, by frees and by compaction together.
    public var spansFreed: Int

    /// Objects moved by ``ZPool/compact(relocate:)`` so far.
    public var compactedObjects: Int

    /// Creates a snapshot with the given counters; every counter defaults to 0.
    ///
    /// - Parameters:
    ///   - allocatedObjects: Objects currently allocated.
    ///   - allocatedBytes: Sum of requested sizes of the allocated objects.
    ///   - spanBytes: Bytes of spans held from the OS.
    ///   - metadataBytes: Bookkeeping bytes outside the spans.
    ///   - maxSpanBytes: High-water mark of `spanBytes`.
    ///   - spansFreed: Spans returned to the OS so far.
    ///   - compactedObjects: Objects moved by compaction so far.
    public init(
        allocatedObjects: Int = 0,
        allocatedBytes: Int = 0,
        spanBytes: Int = 0,
        metadataBytes: Int = 0,
        maxSpanBytes: Int = 0,
        spansFreed: Int = 0,
        compactedObjects: Int = 0
    ) {
        self.allocatedObjects = allocatedObjects
        self.allocatedBytes = allocatedBytes
        self.spanBytes = spanBytes
        self.metadataBytes = metadataBytes
        self.maxSpanBytes = maxSpanBytes
        self.spansFreed = spansFreed
        self.compactedObjects = compactedObjects
    }
}

extension ZPool {
    /// The pool's counters, read without taking any lock.
    ///
    /// - Returns: A snapshot; see ``ZPoolStats`` for how consistent it is under concurrent use.
    /// - Complexity: O(1): seven relaxed atomic loads.
    /// - Note: Thread-safe; may be called from any thread at any time.
    public var stats: ZPoolStats {
        ZPoolStats(
            allocatedObjects: allocatedObjectsCounter.load(ordering: .relaxed),
            allocatedBytes: allocatedBytesCounter.load(ordering: .relaxed),
            spanBytes: spanBytesCounter.load(ordering: .relaxed),
            metadataBytes: metadataBytesCounter.load(ordering: .relaxed),
            maxSpanBytes: maxSpanBytesCounter.load(ordering: .relaxed),
            spansFreed: spansFreedCounter.load(ordering: .relaxed),
            compactedObjects: compactedObjectsCounter.load(ordering: .relaxed)
        )
    }

    /// The pool's whole footprint, `spanBytes + metadataBytes`, from two counters that change only when
    /// a span is taken or released: cheap enough for a caller to check a limit on every allocation.
    ///
    /// - Complexity: O(1), two relaxed atomic loads.
    public var footprintBytes: Int {
        spanBytesCounter.load(ordering: .relaxed) + metadataBytesCounter.load(ordering: .relaxed)
    }
}
