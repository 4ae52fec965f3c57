import Synchronization

// Size classes: span geometry, the size-to-class table, and the per-class lists of partly used spans.
//
// Everything here that touches `_ClassState` or a span owned by the class runs with that class's lock held.

/// How one size class lays out its spans. Immutable after the pool is built.
struct _ClassGeometry: Sendable, Equatable {
    /// Bytes per object slot, a multiple of 16: what ``ZPool/objectCapacity(of:)`` reports.
    let objectSize: Int
    /// OS pages per span (1...16).
    let pagesPerSpan: Int
    /// Object slots per span (1...255).
    let objectsPerSpan: Int
    /// Whether the size tags live in the descriptor (`objectsPerSpan <= 4`) rather than at the span's end.
    let tagsInline: Bool

    var spanBytes: Int { pagesPerSpan * ZPool.pageSize }

    /// Offset of the in-span tag array: the last `objectsPerSpan` bytes of the span.
    var tagOffset: Int { spanBytes - objectsPerSpan }

    /// Chooses pages per span for objects of `objectSize` bytes, like zsmalloc's
    /// `get_pages_per_zspage`, but charging each span for its tags and its 16-byte descriptor.
    ///
    /// For each candidate of 1...16 pages, the span holds as many objects as fit (at most 255) next to
    /// their tags, and packs `objectBytes / (spanBytes + descriptorBytes)`. The winner is the smallest
    /// span that packs within ``ZPool/spanEfficiencySlack`` of the best: a smaller span empties sooner,
    /// goes back to the OS without compaction, and wastes less in the partly used span every class has.
    static func best(objectSize: Int) -> _ClassGeometry {
        var candidates: [(_ClassGeometry, Double)] = []
        for pages in 1...ZPool.maxPagesPerSpan {
            let spanBytes = pages * ZPool.pageSize
            let inlineCount = min(spanBytes / objectSize, _SpanDescriptor.inlineTagCapacity)
            let tailCount = min(spanBytes / (objectSize + 1), ZPoolHandle.maxObjectsPerSpan)
            let inline = tailCount <= _SpanDescriptor.inlineTagCapacity
            let count = inline ? inlineCount : tailCount
            guard count > 0 else { continue }
            let efficiency = Double(count * objectSize) / Double(spanBytes + _SpanDescriptor.size)
            candidates.append((_ClassGeometry(objectSize: objectSize, pagesPerSpan: pages, objectsPerSpan: count, tagsInline: inline), efficiency))
        }
        let top = candidates.map(\.1).max()!
        return candidates.first { $0.1 >= top - ZPool.spanEfficiencySlack }!.0
    }

    /// Builds the class table: one class per 16-byte step from 16 to 4096 bytes, with neighbours merged
    /// into the larger one when their spans would hold the same number of objects in the same number of
    /// pages (zsmalloc merges the same way), as long as the slack still fits a tag (at most 254 bytes).
    ///
    /// - Returns: The geometries in ascending size, and for each step (`(size - 1) >> 4`) its class index.
    static func buildTable() -> (classes: [_ClassGeometry], classForStep: [UInt8]) {
        let steps = ZPool.maxObjectSize / ZPool.classStep
        var descending: [_ClassGeometry] = []
        var stepOwner = [Int](repeating: 0, count: steps)  // index into `descending`
        for step in stride(from: steps - 1, through: 0, by: -1) {
            let size = (step + 1) * ZPool.classStep
            let geometry = best(objectSize: size)
            if let current = descending.last,
                current.pagesPerSpan == geometry.pagesPerSpan,
                current.objectsPerSpan == geometry.objectsPerSpan,
                current.objectSize - (size - ZPool.classStep + 1) < Int(_freeTag)
            {
                stepOwner[step] = descending.count - 1
            } else {
                descending.append(geometry)
                stepOwner[step] = descending.count - 1
            }
        }
        precondition(descending.count < Int(_unusedClass), "ZPool: too many size classes for a UInt8 index")
        let count = descending.count
        let classForStep = stepOwner.map { UInt8(count - 1 - $0) }
        return (descending.reversed(), classForStep)
    }
}

/// One size class: its geometry and, under its lock, its partly used spans.
final class _SizeClass: Sendable {
    let index: UInt8
    let geometry: _ClassGeometry
    /// The class lock, zsmalloc's `class->lock`: guards `_ClassState` and every span this class owns.
    let state: Mutex<_ClassState>

    init(index: UInt8, geometry: _ClassGeometry) {
        self.index = index
        self.geometry = geometry
        self.state = Mutex(_ClassState())
    }
}

/// The mutable part of a size class. Guarded by `_SizeClass.state`.
///
/// Partly used spans sit in one of `groupCount` doubly linked lists by fullness (zsmalloc's fullness
/// groups). Full spans are in no list (nothing needs to find them); empty spans are released at once.
struct _ClassState {
    /// Fullness groups of partly used spans. Eight groups of 1/8 each sort spans finely enough that
    /// allocation lands in nearly the fullest span and compaction drains nearly the emptiest, with O(1)
    /// moves; more groups cost list moves on more allocations for little gain.
    static let groupCount = 8

    var heads = InlineArray<8, UInt32>(repeating: _noSpan)
    /// Bit `g` set when group `g` is non-empty, so both the fullest and the emptiest group are one
    /// bit scan away.
    var nonEmptyGroups: UInt8 = 0
    /// Spans this class owns (partly used and full).
    var spanCount = 0
    /// Objects allocated in this class.
    var objectCount = 0

    /// The fullness group of a span with `inUse` of `objects` slots used, or -1 when it is empty or full.
    @inline(__always)
    static func group(inUse: Int, objects: Int) -> Int {
        guard inUse > 0, inUse < objects else { return -1 }
        return (inUse * groupCount - 1) / objects
    }

    mutating func link(_ span: UInt32, group: Int, _ arena: _UnsafeArena) {
        let descriptor = arena.descriptor(span)
        let head = heads[group]
        descriptor.pointee.prev = _noSpan
        descriptor.pointee.next = head
        if head != _noSpan { arena.descriptor(head).pointee.prev = span }
        heads[group] = span
        nonEmptyGroups |= 1 << UInt8(group)
    }

    mutating func unlink(_ span: UInt32, group: Int, _ arena: _UnsafeArena) {
        let descriptor = arena.descriptor(span)
        let (prev, next) = (descriptor.pointee.prev, descriptor.pointee.next)
        if prev != _noSpan { arena.descriptor(prev).pointee.next = next } else { heads[group] = next }
        if next != _noSpan { arena.descriptor(next).pointee.prev = prev }
        if heads[group] == _noSpan { nonEmptyGroups &= ~(1 << UInt8(group)) }
    }

    /// Moves a span between groups after its `inUse` changed from `old` to `new`.
    @inline(__always)
    mutating func regroup(_ span: UInt32, from old: Int, to new: Int, objects: Int, _ arena: _UnsafeArena) {
        let oldGroup = Self.group(inUse: old, objects: objects)
        let newGroup = Self.group(inUse: new, objects: objects)
        guard oldGroup != newGroup else { return }
        if oldGroup >= 0 { unlink(span, group: oldGroup, arena) }
        if newGroup >= 0 { link(span, group: newGroup, arena) }
    }
}

extension ZPool {
    /// Takes a free object slot of `sizeClass`: from the fullest partly used span, else from a new span.
    ///
    /// The slot's tag is left for the caller to set.
    ///
    /// - Parameters:
    ///   - state: The class's state; the class lock is held.
    ///   - allowNewSpan: `false` during compaction, which must only fill existing spans.
    /// - Returns: The span and object index, or `nil` when a new span was needed and none is left.
    func takeObject(
        _ state: inout _ClassState,
        _ sizeClass: _SizeClass,
        allowNewSpan: Bool = true
    ) -> (span: UInt32, object: Int)? {
        let geometry = sizeClass.geometry
        let span: UInt32
        if state.nonEmptyGroups != 0 {
            let fullest = UInt8.bitWidth - 1 - state.nonEmptyGroups.leadingZeroBitCount
            span = state.heads[fullest]
        } else {
            guard allowNewSpan, let fresh = acquireSpan(bytes: geometry.spanBytes) else { return nil }
            arena.descriptor(fresh).pointee = _SpanDescriptor(
                next: _noSpan, prev: _noSpan, classIndex: sizeClass.index, inUse: 0,
                freeHead: _noObject, carved: 0, inlineTags: (0, 0, 0, 0)
            )
            state.spanCount += 1
            span = fresh
        }
        let descriptor = arena.descriptor(span)
        let object: Int
        if descriptor.pointee.freeHead != _noObject {
            object = Int(descriptor.pointee.freeHead)
            descriptor.pointee.freeHead = arena.object(span, object, geometry).load(as: UInt8.self)
        } else {
            precondition(Int(descriptor.pointee.carved) < geometry.objectsPerSpan, "ZPool: full span in a list")
            object = Int(descriptor.pointee.carved)
            descriptor.pointee.carved += 1
        }
        let inUse = Int(descriptor.pointee.inUse)
        descriptor.pointee.inUse += 1
        state.regroup(span, from: inUse, to: inUse + 1, objects: geometry.objectsPerSpan, arena)
        state.objectCount += 1
        return (span, object)
    }

    /// Returns an object slot to its span's free list and regroups the span.
    ///
    /// - Parameter state: The class's state; the class lock is held.
    /// - Returns: `true` when the span became empty; it has then been detached from the class and the
    ///   caller must hand it to `releaseSpan` after dropping the class lock.
    func putObject(_ state: inout _ClassState, _ sizeClass: _SizeClass, span: UInt32, object: Int) -> Bool {
        let geometry = sizeClass.geometry
        let descriptor = arena.descriptor(span)
        arena.tags(span, geometry)[object] = _freeTag
        arena.object(span, object, geometry).storeBytes(of: descriptor.pointee.freeHead, as: UInt8.self)
        descriptor.pointee.freeHead = UInt8(object)
        let inUse = Int(descriptor.pointee.inUse)
        descriptor.pointee.inUse -= 1
        state.objectCount -= 1
        state.regroup(span, from: inUse, to: inUse - 1, objects: geometry.objectsPerSpan, arena)
        guard inUse == 1 else { return false }
        descriptor.pointee.classIndex = _unusedClass
        state.spanCount -= 1
        return true
    }
}
