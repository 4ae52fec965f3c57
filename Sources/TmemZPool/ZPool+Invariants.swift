#if TMEM_INTERNAL_CHECKS
// Invariant checks, compiled in with `-D TMEM_INTERNAL_CHECKS`.
//
// Lock ordering: each class lock in turn, then `spanPool` on its own; never two at once.

extension ZPool {
    /// Validates the pool's bookkeeping and traps with a message on the first inconsistency.
    ///
    /// Checks, for every span: its free list stays below the carve cursor, has no cycle and holds exactly
    /// the slots tagged free; its in-use count equals its live tags; it sits in the fullness group its count
    /// calls for (or in none when full). For every class: the list links agree both ways and the span and
    /// object counts match the spans. For the pool: the free-span stack holds exactly the unowned spans,
    /// and the object, requested-byte and span-byte counters equal the sums over all spans.
    ///
    /// - Complexity: O(spans ever used + objects); meant for tests.
    /// - Note: Call it when no other thread is using the pool: the totals are compared across classes.
    public func checkInvariants() {
        let highWater = spanPool.withLock { Int($0.highWater) }
        var owned = [Int](repeating: 0, count: classes.count)  // spans per class, by descriptor
        var objects = 0
        var requestedBytes = 0
        var spanBytes = 0
        for sizeClass in classes {
            let geometry = sizeClass.geometry
            sizeClass.state.withLock { state in
                var listed = Set<UInt32>()
                for group in 0..<_ClassState.groupCount {
                    let bit = state.nonEmptyGroups & (1 << UInt8(group)) != 0
                    precondition(bit == (state.heads[group] != _noSpan), "group mask disagrees with list \(group)")
                    var previous = _noSpan
                    var span = state.heads[group]
                    while span != _noSpan {
                        let descriptor = arena.descriptor(span).pointee
                        precondition(descriptor.classIndex == sizeClass.index, "span \(span) listed in a foreign class")
                        precondition(descriptor.prev == previous, "span \(span) has a broken prev link")
                        let expected = _ClassState.group(inUse: Int(descriptor.inUse), objects: geometry.objectsPerSpan)
                        precondition(expected == group, "span \(span) in group \(group), belongs in \(expected)")
                        precondition(listed.insert(span).inserted, "span \(span) listed twice")
                        (previous, span) = (span, descriptor.next)
                    }
                }
                var spans = 0
                var live = 0
                for span in 0..<UInt32(highWater) where arena.descriptor(span).pointee.classIndex == sizeClass.index {
                    let counts = checkSpan(span, geometry)
                    spans += 1
                    live += counts.live
                    requestedBytes += counts.requestedBytes
                    let partial = counts.live < geometry.objectsPerSpan
                    precondition(partial == listed.contains(span), "span \(span) partial=\(partial) but listed=\(!partial)")
                }
                precondition(spans == state.spanCount, "class \(sizeClass.index) counts \(state.spanCount) spans, owns \(spans)")
                precondition(live == state.objectCount, "class \(sizeClass.index) counts \(state.objectCount) objects, holds \(live)")
                owned[Int(sizeClass.index)] = spans
                objects += live
                spanBytes += spans * geometry.spanBytes
            }
        }
        spanPool.withLock { pool in
            var free = 0
            var span = pool.freeTop
            while span != _noSpan {
                precondition(Int(span) < highWater, "free-span stack holds unissued span \(span)")
                precondition(arena.descriptor(span).pointee.classIndex == _unusedClass, "owned span \(span) on the free stack")
                free += 1
                precondition(free <= highWater, "free-span stack has a cycle")
                span = arena.descriptor(span).pointee.next
            }
            precondition(free + owned.reduce(0, +) == highWater, "spans leaked: \(free) free + owned != \(highWater)")
            precondition(pool.spanBytes == spanBytes, "span bytes \(pool.spanBytes) != \(spanBytes) owned")
        }
        let stats = self.stats
        precondition(stats.allocatedObjects == objects, "allocatedObjects \(stats.allocatedObjects) != \(objects)")
        precondition(stats.allocatedBytes == requestedBytes, "allocatedBytes \(stats.allocatedBytes) != \(requestedBytes)")
        precondition(stats.spanBytes == spanBytes, "spanBytes \(stats.spanBytes) != \(spanBytes)")
    }

    /// Checks one owned span's free list against its tags; the class lock is held.
    private func checkSpan(_ span: UInt32, _ geometry: _ClassGeometry) -> (live: Int, requestedBytes: Int) {
        let descriptor = arena.descriptor(span).pointee
        let carved = Int(descriptor.carved)
        precondition(carved <= geometry.objectsPerSpan, "span \(span) carved past its end")
        let tags = arena.tags(span, geometry)
        var onFreeList = 0
        var object = descriptor.freeHead
        while object != _noObject {
            precondition(Int(object) < carved, "span \(span) free list reaches uncarved slot \(object)")
            precondition(tags[Int(object)] == _freeTag, "span \(span) free list holds live slot \(object)")
            onFreeList += 1
            precondition(onFreeList <= carved, "span \(span) free list has a cycle")
            object = arena.object(span, Int(object), geometry).load(as: UInt8.self)
        }
        var live = 0
        var requestedBytes = 0
        for slot in 0..<carved where tags[slot] != _freeTag {
            live += 1
            requestedBytes += geometry.objectSize - Int(tags[slot])
        }
        precondition(live + onFreeList == carved, "span \(span): \(live) live + \(onFreeList) free != \(carved) carved")
        precondition(live == Int(descriptor.inUse), "span \(span): inUse \(descriptor.inUse) but \(live) live tags")
        precondition(live > 0, "empty span \(span) still owned")
        return (live, requestedBytes)
    }
}
#endif
