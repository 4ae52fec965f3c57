import Glibc
import Synchronization

/// A compact allocator for compressed pages: objects of 1...4096 bytes packed densely into spans of OS
/// pages, modelled on the kernel's zsmalloc (`mm/zsmalloc.c`), which sits behind zswap and zram.
///
/// Callers get opaque ``ZPoolHandle``s rather than pointers, reach an object's bytes only inside
/// ``withObject(_:_:)``, and give memory back with ``free(_:)``. Spans that empty out go back to the OS at
/// once; ``compact(relocate:)`` moves objects out of sparsely used spans so more of them can.
///
/// ```swift
/// let pool = try ZPool()
/// guard let handle = pool.allocate(size: compressed.count) else { return nil }  // refuse the store
/// pool.withObject(handle) { $0.copyMemory(from: compressed) }                   // compressed: [UInt8]
/// // ... later: decompress from `pool.withObject(handle) { ... }`, then `pool.free(handle)`.
/// ```
///
/// ## Implementation Notes
///
/// **Arena.** `init` reserves one virtual arena (`maxPoolBytes`, 64 GiB by default) with
/// `MAP_NORESERVE`, so it costs address space, not memory. Span `i` lives at `base + i * 64 KiB`, which makes
/// handle-to-address pure arithmetic: `withObject` reads the span's class byte and multiplies, with no lock
/// and no table walk. The 64 KiB *stride* is the largest span (16 pages); smaller spans leave the rest of
/// their stride unused and untouched. The trade-off is address space: a class with 1-page spans uses 1/16
/// of the arena it spans, so the arena holds `maxPoolBytes / 16` of such objects at worst. Raise
/// `maxPoolBytes` (up to 1 TiB, the handle's limit) if that matters; the cost is only address space and
/// 16 bytes of descriptor array per 64 KiB, both committed on use.
///
/// **Size classes.** Requests round up to 16-byte steps (zsmalloc's `ZS_SIZE_CLASS_DELTA` for 4 KiB pages):
/// finer steps waste less inside objects but make more classes, hence more partly used spans; 16 bytes
/// keeps the rounding loss under 1% for the 1-4 KiB objects compressed pages produce. The smallest class
/// is 16 bytes, the room a free slot needs for its free-list link. For each class the span length (1...16
/// pages) is the shortest whose share of bytes holding objects is within ``spanEfficiencySlack`` of the
/// best length's (zsmalloc's `get_pages_per_zspage` takes the best outright; with ~200 classes each
/// keeping a partly used span, shorter spans waste less in pools of tens of MiB); 16 pages bounds the
/// stride and how many objects must be freed before a span empties by itself. Neighbouring classes whose spans come out the same (pages and objects)
/// merge into the larger one. Objects of 4096 bytes take one page each, four pages to a span.
///
/// **Spans and descriptors.** Each span has a 16-byte descriptor in a second reserved array, committed
/// page by page as span indices are first used: class, objects in use, free-list head, a carve cursor
/// and fullness-list links. Free slots form an intrusive LIFO list through their first byte; slots past
/// the carve cursor have never been used, so a new span is not touched until its objects are. Each object
/// also has a one-byte *tag*: 0xFF when free, else its slack (`objectSize - requestedSize`). Tags let
/// ``free(_:)`` account requested bytes exactly, detect double frees, and let compaction find live objects.
/// They live in the last bytes of the span, or in the descriptor for spans of at most four objects,
/// whose pages the objects fill exactly. Metadata is therefore 16 bytes per span plus the tags inside the
/// span: about 0.4 byte per object outside the spans for spans of ~40 objects.
///
/// **Placement.** Partly used spans of a class sit in eight fullness groups; allocation takes the fullest
/// group, so sparse spans are left to drain and empty by themselves, and compaction drains the emptiest
/// spans into the fullest. Groups make both O(1); keeping spans exactly ordered would cost a heap per class.
/// A span whose last object is freed is released at once with `MADV_FREE` and its index pushed on a
/// LIFO free-span stack, so reused indices stay low and the descriptor array stays small.
///
/// **Locking.** Lock ordering: a class lock (`_SizeClass.state`, zsmalloc's `class->lock`), then
/// `spanPool`. Each class lock guards its lists and every span the class owns; `spanPool` guards the
/// free-span stack and the high-water mark. `madvise` runs with no lock held. Counters are atomics.
/// `withObject` takes no lock at all.
///
/// ## Caveats
/// - Freeing a handle while another thread maps it, or using a handle after `free` or after compaction
///   moved it, is undefined behaviour; the pool cannot tell.
/// - Double frees trap when the object's tag says the slot is free or its span is released; a stale handle
///   whose slot was reused by a new object is indistinguishable from that object's own handle.
/// - `compact`'s `relocate` runs under a class lock: it must not call `allocate`, `free` or `compact`.
/// - Requires 4 KiB pages and an overcommit mode that honours `MAP_NORESERVE` (not `vm.overcommit_memory=2`
///   with a large `maxPoolBytes`).
public final class ZPool: Sendable {
    /// Settings fixed when a pool is created.
    public struct Configuration: Sendable {
        /// Bytes of virtual address space reserved for spans: 64 GiB by default, rounded down to the
        /// 64 KiB span stride, at most 1 TiB (2^24 spans, the handle's limit). Reserving costs no memory.
        public var maxPoolBytes: Int

        /// Creates a configuration.
        ///
        /// - Parameter maxPoolBytes: Virtual size of the arena, in bytes; 64 KiB...1 TiB.
        public init(maxPoolBytes: Int = 64 << 30) {
            self.maxPoolBytes = maxPoolBytes
        }
    }

    /// The largest object the pool stores: one 4 KiB page, an incompressible page.
    public static let maxObjectSize = 4096

    /// The OS page size the span geometry is computed for.
    static let pageSize = 4096
    /// Longest span, in pages; also sets the 64 KiB arena stride.
    static let maxPagesPerSpan = 16
    /// A class takes the smallest span whose packing is within this much (3 points of efficiency) of
    /// the best span length's. Every class keeps a partly used span, so long spans waste up to half
    /// their length per class (about 100 classes x 32 KiB = 3 MiB) in a pool of tens of MiB, while a
    /// short span that packs nearly as well loses at most 3% on full spans. On the 64 MiB dev corpus
    /// with LZ4 the pool took 32.6 MiB choosing the best packing alone, 29.9 MiB at 1%, 29.0 MiB at 3%,
    /// 28.9 MiB at 5%: 3% keeps most of the gain with less loss for pools of many GiB.
    static let spanEfficiencySlack = 0.03
    /// Size-class granularity, zsmalloc's `ZS_SIZE_CLASS_DELTA` for 4 KiB pages.
    static let classStep = 16
    /// Largest `maxPoolBytes`: as many strides as the handle can name.
    static let maxArenaBytes = ZPoolHandle.maxSpans << _UnsafeArena.strideShift
    /// Largest `maxPoolBytes` (1 TiB), for callers that size their arena.
    public static var maxArenaBytesPublic: Int { maxArenaBytes }

    let arena: _UnsafeArena
    private let arenaRegion: _MappedRegion
    private let descriptorRegion: _MappedRegion
    /// Size classes in ascending object size; `classes[i].index == i`.
    let classes: [_SizeClass]
    /// `classes[i].geometry`, kept contiguous for the lock-free `withObject` path.
    let geometries: [_ClassGeometry]
    /// For request size `s`, the class index at `classForStep[(s - 1) >> 4]`.
    let classForStep: [UInt8]
    /// Bytes of the class tables, counted in `metadataBytes`.
    let tableBytes: Int
    /// The span-pool lock: guards the free-span stack and the descriptor high-water mark.
    let spanPool: Mutex<_SpanPoolState>

    let allocatedObjectsCounter = Atomic<Int>(0)
    let allocatedBytesCounter = Atomic<Int>(0)
    let spanBytesCounter = Atomic<Int>(0)
    let metadataBytesCounter = Atomic<Int>(0)
    let maxSpanBytesCounter = Atomic<Int>(0)
    let spansFreedCounter = Atomic<Int>(0)
    let compactedObjectsCounter = Atomic<Int>(0)

    /// Creates a pool and reserves its arena; mirrors `zs_create_pool`.
    ///
    /// - Parameter configuration: The arena size; see ``Configuration``.
    /// - Throws: ``ZPoolError`` when the configuration is out of range, the page size is not 4 KiB, or
    ///   `mmap` cannot reserve the arena or its descriptor array.
    /// - Complexity: O(number of size classes); no memory is committed beyond the class tables.
    public init(configuration: Configuration = .init()) throws(ZPoolError) {
        let osPageSize = sysconf(Int32(_SC_PAGESIZE))
        guard osPageSize == Self.pageSize else { throw .unsupportedPageSize(osPageSize) }
        let stride = 1 << _UnsafeArena.strideShift
        guard configuration.maxPoolBytes >= stride, configuration.maxPoolBytes <= Self.maxArenaBytes else {
            throw .invalidConfiguration(
                "maxPoolBytes is \(configuration.maxPoolBytes); it must be \(stride)...\(Self.maxArenaBytes)"
            )
        }
        let spanCount = configuration.maxPoolBytes >> _UnsafeArena.strideShift
        let descriptorBytes = Self.roundUpToPage(spanCount * _SpanDescriptor.size)
        precondition(MemoryLayout<_SpanDescriptor>.size == _SpanDescriptor.size)
        precondition(MemoryLayout<_SpanDescriptor>.offset(of: \.inlineTags) == _SpanDescriptor.inlineTagOffset)

        arenaRegion = try _MappedRegion(reserving: spanCount << _UnsafeArena.strideShift, for: "span arena")
        descriptorRegion = try _MappedRegion(reserving: descriptorBytes, for: "span descriptors")
        arena = _UnsafeArena(
            base: arenaRegion.base,
            descriptors: descriptorRegion.base.bindMemory(to: _SpanDescriptor.self, capacity: spanCount),
            spanCount: spanCount
        )
        let table = _ClassGeometry.buildTable()
        geometries = table.classes
        classForStep = table.classForStep
        classes = table.classes.enumerated().map { _SizeClass(index: UInt8($0.offset), geometry: $0.element) }
        tableBytes =
            table.classes.count * (MemoryLayout<_ClassGeometry>.stride + MemoryLayout<_ClassState>.stride)
            + table.classForStep.count
        spanPool = Mutex(_SpanPoolState())
        metadataBytesCounter.store(tableBytes, ordering: .relaxed)
    }

    // deinit: nothing to do by hand. `arenaRegion` and `descriptorRegion` unmap themselves when the pool
    // goes away, handing every span back to the OS, whether or not handles are still outstanding.

    /// Allocates an object of `size` bytes; mirrors `zs_malloc`.
    ///
    /// The object's bytes are unspecified (a reused slot keeps old contents); write them through
    /// ``withObject(_:_:)`` before reading.
    ///
    /// - Parameter size: Bytes the caller will store, 1...``maxObjectSize``.
    /// - Returns: A handle to an object of at least `size` bytes (``objectCapacity(of:)``), or `nil`
    ///   when `size` is 0 or above ``maxObjectSize`` or the arena has no span left. Never traps on these.
    /// - Complexity: O(1): a class lock, a list move; when a new span is needed, the span-pool lock.
    /// - Note: Thread-safe. Allocations of different size classes do not contend.
    public func allocate(size: Int) -> ZPoolHandle? {
        guard size > 0, size <= Self.maxObjectSize else { return nil }
        let sizeClass = classes[Int(classForStep[(size - 1) >> 4])]
        let geometry = sizeClass.geometry
        let slack = UInt8(geometry.objectSize - size)
        let handle = sizeClass.state.withLock { state -> ZPoolHandle? in
            guard let (span, object) = takeObject(&state, sizeClass) else { return nil }
            arena.tags(span, geometry)[object] = slack
            return ZPoolHandle(span: span, object: object)
        }
        guard let handle else { return nil }
        allocatedObjectsCounter.add(1, ordering: .relaxed)
        allocatedBytesCounter.add(size, ordering: .relaxed)
        return handle
    }

    /// Frees an object; mirrors `zs_free`. Releases its span to the OS if it was the span's last object.
    ///
    /// - Parameter handle: A handle from ``allocate(size:)`` (or the `new` side of a relocation) that has
    ///   not been freed. The caller must not be mapping it on another thread.
    /// - Complexity: O(1), plus one `madvise` when a span empties.
    /// - Note: Thread-safe. Traps with a message on a handle outside the arena, in a released span, past
    ///   the span's used slots, or whose slot is already free (a double free).
    public func free(_ handle: ZPoolHandle) {
        let span = handle.spanIndex
        let object = handle.objectIndex
        precondition(Int(span) < arena.spanCount && object >= 0, "ZPool.free: \(handle) is not a pool handle")
        let classIndex = arena.descriptor(span).pointee.classIndex
        precondition(classIndex != _unusedClass, "ZPool.free: \(handle) is in a free span (double free?)")
        let sizeClass = classes[Int(classIndex)]
        let geometry = sizeClass.geometry
        let (requested, emptied) = sizeClass.state.withLock { state -> (Int, Bool) in
            let descriptor = arena.descriptor(span)
            precondition(
                descriptor.pointee.classIndex == classIndex && object < Int(descriptor.pointee.carved),
                "ZPool.free: \(handle) is not allocated (double free?)"
            )
            let tag = arena.tags(span, geometry)[object]
            precondition(tag != _freeTag, "ZPool.free: \(handle) is already free (double free)")
            let emptied = putObject(&state, sizeClass, span: span, object: object)
            return (geometry.objectSize - Int(tag), emptied)
        }
        allocatedObjectsCounter.subtract(1, ordering: .relaxed)
        allocatedBytesCounter.subtract(requested, ordering: .relaxed)
        if emptied { releaseSpan(span, bytes: geometry.spanBytes) }
    }

    /// Maps an object's bytes for the duration of `body`; mirrors `zs_map_object`/`zs_unmap_object`.
    ///
    /// The buffer spans the whole object slot, ``objectCapacity(of:)`` bytes, which is at least the size
    /// allocated; bytes past the allocated size are the caller's to use or ignore.
    ///
    /// - Parameters:
    ///   - handle: An allocated handle.
    ///   - body: Reads or writes the object. The buffer must not escape the closure.
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws.
    /// - Complexity: O(1): no lock, no table lookup; one descriptor read and arithmetic.
    /// - Note: Thread-safe as long as no other thread frees, or compacts away, `handle` meanwhile; two
    ///   threads writing the same object race, as they would on any memory. Traps on a handle outside the
    ///   arena or in a released span.
    @inline(__always)
    public func withObject<R, E: Error>(
        _ handle: ZPoolHandle,
        _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        let geometry = geometry(of: handle, caller: "withObject")
        let start = arena.object(handle.spanIndex, handle.objectIndex, geometry)
        return try body(UnsafeMutableRawBufferPointer(start: start, count: geometry.objectSize))
    }

    /// The usable size of an object: its size class's object size; `zs_lookup_class`'s size, in effect.
    ///
    /// - Parameter handle: An allocated handle.
    /// - Returns: Bytes in the buffer ``withObject(_:_:)`` passes, at least the size allocated.
    /// - Complexity: O(1), lock-free.
    /// - Note: Thread-safe under the same condition as ``withObject(_:_:)``.
    public func objectCapacity(of handle: ZPoolHandle) -> Int {
        geometry(of: handle, caller: "objectCapacity").objectSize
    }

    @inline(__always)
    private func geometry(of handle: ZPoolHandle, caller: StaticString) -> _ClassGeometry {
        let span = handle.spanIndex
        precondition(Int(span) < arena.spanCount, "ZPool.\(caller): \(handle) is not a pool handle")
        let classIndex = arena.descriptor(span).pointee.classIndex
        precondition(classIndex != _unusedClass, "ZPool.\(caller): \(handle) is in a free span")
        let geometry = geometries[Int(classIndex)]
        precondition(
            handle.objectIndex >= 0 && handle.objectIndex < geometry.objectsPerSpan,
            "ZPool.\(caller): \(handle) is not a pool handle"
        )
        return geometry
    }
}
