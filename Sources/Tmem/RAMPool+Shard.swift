// The inside of a RAMPool shard: objects, the frame arena and the ephemeral LRU list. Every function
// here runs with the shard's lock held.

extension RAMPool {
    /// A pool's object: (pool, object id).
    struct ObjectName: Hashable {
        var pool: PoolID
        var object: UInt64
    }

    /// Where a frame's page belongs, and its place in the shard's ephemeral LRU list (-1: not linked).
    struct FrameMeta {
        var name = ObjectName(pool: PoolID(rawValue: 0), object: 0)
        var index: UInt32 = 0
        var older: Int32 = -1
        var newer: Int32 = -1
    }

    // @unchecked: the chunk pointers are owned by the shard and only touched under its Mutex (and in
    // deinit, when no other reference exists).
    struct Shard: @unchecked Sendable {
        /// The kind of every live pool (a copy in each shard, so a put checks its pool under one lock).
        var kinds: [PoolID: PoolKind] = [:]
        /// Per object, the frame holding each stored page.
        var objects: [ObjectName: [UInt32: Int32]] = [:]
        var usage: [PoolID: PoolUsage] = [:]
        var chunks: [UnsafeMutableRawPointer] = []
        var meta: [FrameMeta] = []
        var freeFrames: [Int32] = []
        /// The ephemeral LRU list: least recently put or got at `coldest`.
        var coldest: Int32 = -1
        var hottest: Int32 = -1

        func frame(_ number: Int32) -> UnsafeMutableRawPointer {
            let n = Int(number)
            return chunks[n / RAMPool.framesPerChunk] + (n % RAMPool.framesPerChunk) * pageSize
        }

        /// Stores a new page (room already reserved) and links it if its pool is ephemeral.
        mutating func insert(_ name: ObjectName, _ index: UInt32, _ page: UnsafeRawBufferPointer) {
            let frame = allocateFrame()
            self.frame(frame).copyMemory(from: page.baseAddress!, byteCount: pageSize)
            objects[name, default: [:]][index] = frame
            meta[Int(frame)] = FrameMeta(name: name, index: index)
            usage[name.pool, default: PoolUsage()].add(PoolUsage(pages: 1, originalBytes: pageSize, storedBytes: pageSize))
            if kinds[name.pool] == .ephemeral { linkHottest(frame) }
        }

        /// Removes one page from its object and frees its frame. The caller releases the reservation.
        mutating func remove(_ name: ObjectName, _ index: UInt32) -> Bool {
            guard let frame = objects[name]?.removeValue(forKey: index) else { return false }
            if objects[name]!.isEmpty { objects[name] = nil }
            release(frame)
            return true
        }

        /// Frees a frame whose object entry is already gone.
        mutating func release(_ frame: Int32) {
            let m = meta[Int(frame)]
            usage[m.name.pool]?.add(PoolUsage(pages: -1, originalBytes: -pageSize, storedBytes: -pageSize))
            unlink(frame)
            freeFrames.append(frame)
        }

        /// Makes an ephemeral page the most recently used.
        mutating func touch(_ frame: Int32) {
            guard meta[Int(frame)].older >= 0 || coldest == frame else { return }
            unlink(frame)
            linkHottest(frame)
        }

        /// Drops the least recently used ephemeral page, if any.
        ///
        /// - Returns: true if a page was dropped (its reservation is the caller's to release).
        mutating func evictColdest() -> Bool {
            guard coldest >= 0 else { return false }
            let m = meta[Int(coldest)]
            return remove(m.name, m.index)
        }

        private mutating func linkHottest(_ frame: Int32) {
            meta[Int(frame)].older = hottest
            meta[Int(frame)].newer = -1
            if hottest >= 0 { meta[Int(hottest)].newer = frame } else { coldest = frame }
            hottest = frame
        }

        private mutating func unlink(_ frame: Int32) {
            let m = meta[Int(frame)]
            guard m.older >= 0 || m.newer >= 0 || coldest == frame else { return }
            if m.older >= 0 { meta[Int(m.older)].newer = m.newer } else { coldest = m.newer }
            if m.newer >= 0 { meta[Int(m.newer)].older = m.older } else { hottest = m.older }
            meta[Int(frame)].older = -1
            meta[Int(frame)].newer = -1
        }

        private mutating func allocateFrame() -> Int32 {
            if let frame = freeFrames.popLast() { return frame }
            let chunk = UnsafeMutableRawPointer.allocate(
                byteCount: RAMPool.framesPerChunk * pageSize, alignment: pageSize)
            let first = Int32(chunks.count * RAMPool.framesPerChunk)
            chunks.append(chunk)
            meta.append(contentsOf: repeatElement(FrameMeta(), count: RAMPool.framesPerChunk))
            freeFrames.reserveCapacity(freeFrames.count + RAMPool.framesPerChunk)
            for i in (1..<Int32(RAMPool.framesPerChunk)).reversed() { freeFrames.append(first + i) }
            return first
        }
    }
}
