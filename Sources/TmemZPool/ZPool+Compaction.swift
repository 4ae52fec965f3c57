// Compaction: moving objects out of the emptiest spans of a class into its fullest, so the emptied spans
// can go back to the OS; zsmalloc's `zs_compact`.
//
// Lock ordering: one class lock at a time, taken once per source span; `relocate` runs under it.

extension ZPool {
    /// Moves objects out of sparsely used spans into fuller spans of the same class and releases the spans
    /// emptied this way; mirrors `zs_compact`.
    ///
    /// For each class, while the free slots in its other partly used spans can take every object of its
    /// emptiest span, that span's objects are copied into the fullest spans (their full slot, so bytes
    /// past the requested size move too), `relocate` is told, and the span is given back to the OS.
    /// A class where that would free no span is left alone, so compacting twice in a row moves nothing.
    ///
    /// - Parameter relocate: Called once per moved object with its old handle (now invalid) and its new
    ///   handle. It runs with the class's lock held: it may call ``withObject(_:_:)`` but must not call
    ///   ``allocate(size:)``, ``free(_:)`` or ``compact(relocate:)``, and must not wait for a thread
    ///   that might.
    /// - Returns: Bytes of spans given back to the OS by this call.
    /// - Complexity: O(objects moved + spans released + size classes).
    /// - Note: Thread-safe with concurrent `allocate` and `free` of other objects, but the caller must
    ///   guarantee that nobody uses or frees the handles being moved (hold your own locks across the call).
    @discardableResult
    public func compact(relocate: (_ old: ZPoolHandle, _ new: ZPoolHandle) -> Void) -> Int {
        compact(sizeClasses: 0..<sizeClassCount, relocate: relocate)
    }

    /// The number of size classes: ``compact(sizeClasses:relocate:)`` takes a range of 0..<sizeClassCount.
    public var sizeClassCount: Int { classes.count }

    /// The size class of an allocated object, in 0..<``sizeClassCount`` (ascending object size).
    ///
    /// - Complexity: O(1), lock-free; thread-safe under the same condition as ``withObject(_:_:)``.
    public func sizeClassIndex(of handle: ZPoolHandle) -> Int {
        let span = handle.spanIndex
        precondition(Int(span) < arena.spanCount, "ZPool.sizeClassIndex: \(handle) is not a pool handle")
        return Int(arena.descriptor(span).pointee.classIndex)
    }

    /// ``compact(relocate:)`` for some size classes only: one step of an incremental compaction, so that
    /// a caller that must stop its users while objects move (Zcache locks its shards) stops them briefly.
    ///
    /// - Parameters:
    ///   - sizeClasses: The classes to compact, within 0..<``sizeClassCount``.
    ///   - relocate: As for ``compact(relocate:)``.
    /// - Returns: Bytes of spans given back to the OS.
    @discardableResult
    public func compact(sizeClasses: Range<Int>, relocate: (_ old: ZPoolHandle, _ new: ZPoolHandle) -> Void) -> Int {
        var released = 0
        for sizeClass in classes[sizeClasses] {
            while let span = drainEmptiestSpan(sizeClass, relocate: relocate) {
                releaseSpan(span, bytes: sizeClass.geometry.spanBytes)
                released += sizeClass.geometry.spanBytes
            }
        }
        #if TMEM_INTERNAL_CHECKS
        checkInvariants()
        #endif
        return released
    }

    /// Empties the class's emptiest partly used span into its other spans, if they have room for all of
    /// its objects.
    ///
    /// - Returns: The emptied span, detached from the class, for the caller to release with no lock held;
    ///   `nil` when there is nothing worth moving.
    private func drainEmptiestSpan(
        _ sizeClass: _SizeClass,
        relocate: (_ old: ZPoolHandle, _ new: ZPoolHandle) -> Void
    ) -> UInt32? {
        let geometry = sizeClass.geometry
        let moved = sizeClass.state.withLock { state -> (span: UInt32, count: Int)? in
            guard state.nonEmptyGroups != 0 else { return nil }
            let emptiest = state.nonEmptyGroups.trailingZeroBitCount
            let source = state.heads[emptiest]
            let descriptor = arena.descriptor(source)
            let live = Int(descriptor.pointee.inUse)
            let freeSlots = state.spanCount * geometry.objectsPerSpan - state.objectCount
            let freeElsewhere = freeSlots - (geometry.objectsPerSpan - live)
            guard freeElsewhere >= live else { return nil }

            // Isolate the source so `takeObject` never picks it as a destination.
            state.unlink(source, group: emptiest, arena)
            let tags = arena.tags(source, geometry)
            var count = 0
            for object in 0..<Int(descriptor.pointee.carved) where tags[object] != _freeTag {
                guard let (span, slot) = takeObject(&state, sizeClass, allowNewSpan: false) else {
                    preconditionFailure("ZPool.compact: no room for an object the free-slot count promised")
                }
                arena.object(span, slot, geometry).copyMemory(
                    from: arena.object(source, object, geometry),
                    byteCount: geometry.objectSize
                )
                arena.tags(span, geometry)[slot] = tags[object]
                tags[object] = _freeTag
                descriptor.pointee.inUse -= 1
                state.objectCount -= 1
                count += 1
                relocate(ZPoolHandle(span: source, object: object), ZPoolHandle(span: span, object: slot))
            }
            precondition(descriptor.pointee.inUse == 0, "ZPool.compact: source span still in use")
            descriptor.pointee.classIndex = _unusedClass
            state.spanCount -= 1
            return (source, count)
        }
        guard let moved else { return nil }
        compactedObjectsCounter.add(moved.count, ordering: .relaxed)
        return moved.span
    }
}
