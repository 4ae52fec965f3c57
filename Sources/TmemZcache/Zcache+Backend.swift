import Synchronization
import Tmem
import TmemCompression
import TmemZPool

extension Zcache {
    public func createPool(_ kind: PoolKind) throws(TmemError) -> PoolID {
        try poolCreation.withLock { (cursor: inout Int) throws(TmemError) -> PoolID in
            // Slots in turn from after the last one handed out (slot 0 is never used: pool id 0 stays
            // invalid), so a freed slot rests while the others are tried. Through `maxPools` steps, ending
            // at the cursor's own slot: with `1..<maxPools`, that slot (the one handed out last) was never
            // tried, so when it was the only free one, creation failed with a slot free.
            for step in 1...Self.maxPools {
                let slot = (cursor + step) % Self.maxPools
                guard slot != 0, pools[slot].state.load(ordering: .acquiring) == 0 else { continue }
                let generation = pools[slot].generation.wrappingAdd(1, ordering: .relaxed).oldValue & 0xF_FFFF
                let id = generation << 12 | UInt32(slot)
                pools[slot].state.store(PoolSlot.encode(id, kind), ordering: .releasing)
                cursor = slot
                return PoolID(rawValue: id)
            }
            throw .tooManyPools("zcache holds at most \(Self.maxPools - 1) live pools")
        }
    }

    public func destroyPool(_ pool: PoolID) {
        guard kind(of: pool.rawValue) != nil else { return }
        let slot = pools[Int(pool.rawValue) & (Self.maxPools - 1)]
        let state = slot.state.load(ordering: .acquiring)
        guard slot.state.compareExchange(expected: state, desired: 0, ordering: .acquiringAndReleasing).exchanged
        else { return }
        // Dead first: a put that takes a shard lock after the sweep below sees it and refuses.
        objects.invalidatePool(pool.rawValue)
        dropChunks { $0.pool == pool.rawValue }
        for shard in shards { shard.state.withLock { _ = $0.usage.removeValue(forKey: pool.rawValue) } }
    }

    public func putCharged(_ key: Key, page: UnsafeRawBufferPointer) -> (result: PutResult, storedBytesDelta: Int) {
        precondition(page.count == pageSize, "a page is \(pageSize) bytes")
        guard let kind = kind(of: key.pool.rawValue) else {
            rejectNoSuchPool.add(1, ordering: .relaxed)
            return (.refused(.noSuchPool), 0)
        }
        // The object's record before anything else: a flush from here on refuses this put.
        let name = ObjectName(pool: key.pool.rawValue, object: key.object.rawValue)
        let (record, flushes) = objects.current(name)
        let target = InsertTarget(key: key, place: locate(key), record: record, flushes: flushes, ephemeral: kind == .ephemeral)
        let outcome = store(page, target)
        guard case .refused = outcome.result else { return outcome }
        // A refused put holds nothing under its key (a refused insertion removed it already), and leaves
        // no record behind.
        let delta = outcome.storedBytesDelta - (flushCharged(key) ?? 0)
        objects.retireIfEmpty(record)
        return (outcome.result, delta)
    }

    /// Admits, compresses and enters one page (the body of ``putCharged(_:page:)``).
    private func store(_ page: UnsafeRawBufferPointer, _ target: InsertTarget) -> (result: PutResult, storedBytesDelta: Int) {
        guard admit() else {
            poolLimitHit.add(1, ordering: .relaxed)
            return (.refused(.capacity), 0)
        }
        if let word = sameFilledWord(page) {
            return target.place.shard.state.withLock { state in
                finish(insert(target, value: word, same: true, &state))
            }
        }
        // The compressor slot is held until the entry is in the table, so that compaction (which takes
        // every slot) never sees an allocated object that no entry refers to yet.
        return compressors.with { (slot: inout CompressorPool.Slot) -> (result: PutResult, storedBytesDelta: Int) in
            let ref: ObjectRef
            switch compressIntoPool(page, &slot) {
            case .failure(let reason): return (.refused(reason), 0)
            case .success(let stored): ref = stored
            }
            // The object may have opened a new span: check the limit again, with room for the entry,
            // after dropping ephemeral pages if that is what it takes.
            if usage + Chunk.maxGrowth > limitBytes.load(ordering: .relaxed),
                evictEphemeral(chunks: Self.evictionChunksPerPut) == 0
                    || usage + Chunk.maxGrowth > limitBytes.load(ordering: .relaxed)
            {
                zpool.free(ZPoolHandle(rawValue: ref.handle))
                limitHit.store(true, ordering: .relaxed)
                poolLimitHit.add(1, ordering: .relaxed)
                return (.refused(.capacity), 0)
            }
            return target.place.shard.state.withLock { state in
                let inserted = insert(target, value: ref.value, same: false, &state)
                if case .refused = inserted.result { zpool.free(ZPoolHandle(rawValue: ref.handle)) }
                return finish(inserted)
            }
        }
    }

    /// Counts an insertion's refusal (if it was one).
    private func finish(_ inserted: (result: PutResult, storedBytesDelta: Int))
        -> (result: PutResult, storedBytesDelta: Int)
    {
        switch inserted.result {
        case .refused(.noSuchPool): rejectNoSuchPool.add(1, ordering: .relaxed)
        case .refused(.invalidated): rejectInvalidated.add(1, ordering: .relaxed)
        default: break
        }
        return inserted
    }

    public func get(_ key: Key, into page: UnsafeMutableRawBufferPointer) throws(TmemError) -> Bool {
        precondition(page.count == pageSize, "a page is \(pageSize) bytes")
        let place = locate(key)
        let bit = place.bit
        return try compressors.with { (slot: inout CompressorPool.Slot) throws(TmemError) -> Bool in
            try place.shard.state.withLock { (state: inout ShardState) throws(TmemError) -> Bool in
                guard let chunk = state.chunks[place.chunkKey], chunk.contains(bit),
                    chunk.record.current != .invalidated
                else { return false }
                let value = chunk.value(bit)
                if chunk.ephemeral { touch(chunk, &state) }
                if chunk.isSameFilled(bit) {
                    fillPage(page, with: value)
                    return true
                }
                try decode(ObjectRef(value), of: key, into: page, &slot)
                return true
            }
        }
    }

    /// Copies an object out of the pool into `page`, checking it first (shard lock held).
    private func decode(
        _ ref: ObjectRef, of key: Key, into page: UnsafeMutableRawBufferPointer, _ slot: inout CompressorPool.Slot
    ) throws(TmemError) {
        try zpool.withObject(ZPoolHandle(rawValue: ref.handle)) { (object) throws(TmemError) in
            if ref.isHuge {
                let bytes = UnsafeRawBufferPointer(rebasing: object[0..<pageSize])
                if configuration.checksums, tmem32(bytes) & 0x7FFF_FFFF != ref.hugeChecksum {
                    corruptObjects.add(1, ordering: .relaxed)
                    throw .corruptPage("the uncompressed object of \(key) fails its checksum")
                }
                page.copyMemory(from: bytes)
                return
            }
            let compressed = UnsafeRawBufferPointer(rebasing: object[0..<ref.length])
            if configuration.checksums {
                let stored = object.loadUnaligned(fromByteOffset: ref.length, as: UInt32.self)
                guard tmem32(compressed) == stored else {
                    corruptObjects.add(1, ordering: .relaxed)
                    throw .corruptPage("the compressed object of \(key) fails its checksum")
                }
            }
            do throws(CompressionError) {
                try slot.compressor.decompress(compressed, into: page)
            } catch {
                corruptObjects.add(1, ordering: .relaxed)
                throw .corruptPage("the compressed object of \(key) does not decompress: \(error.message)")
            }
        }
    }

    @discardableResult
    public func flushPage(_ key: Key) -> Bool { flushCharged(key) != nil }

    /// Drops one page.
    ///
    /// - Returns: The stored bytes it took, or nil if it was not held.
    private func flushCharged(_ key: Key) -> Int? {
        let place = locate(key)
        return place.shard.state.withLock { state -> Int? in
            guard let chunk = state.chunks[place.chunkKey], chunk.contains(place.bit) else { return nil }
            let bytes = chunk.isSameFilled(place.bit) ? 0 : storedBytes(ObjectRef(chunk.value(place.bit)))
            remove(chunk, place.bit, place.chunkKey, &state)
            return bytes
        }
    }

    @discardableResult
    public func flushObject(pool: PoolID, object: ObjectID) -> Int {
        let name = ObjectName(pool: pool.rawValue, object: object.rawValue)
        var dropped = 0
        for base in objects.invalidate(name) {
            let key = ChunkKey(pool: pool.rawValue, base: base, object: object.rawValue)
            shard(pool: pool.rawValue, object: object.rawValue, index: base).state.withLock { state in
                guard let chunk = state.chunks[key], chunk.record.name == name, chunk.record.current == .invalidated
                else { return }
                dropped += chunk.count
                drop(chunk, key, &state)
            }
        }
        return dropped
    }

    public func usage(of pool: PoolID) -> PoolUsage? {
        guard isLive(pool) else { return nil }
        var total = PoolUsage()
        for shard in shards {
            shard.state.withLock { state in
                if let cell = state.usage[pool.rawValue] { total.add(cell.usage) }
            }
        }
        return total
    }

    /// Drops every chunk whose key matches, in every shard.
    ///
    /// - Returns: The number of pages dropped.
    @discardableResult
    func dropChunks(where matches: (ChunkKey) -> Bool) -> Int {
        var dropped = 0
        for shard in shards {
            shard.state.withLock { state in
                for (key, chunk) in state.chunks where matches(key) {
                    dropped += chunk.count
                    drop(chunk, key, &state)
                }
            }
        }
        return dropped
    }

    var checksumBytes: Int { configuration.checksums ? 4 : 0 }

    /// Bytes an object takes in the pool before size-class rounding: the page itself when stored
    /// uncompressed, else the compressed bytes and their checksum (zram's `compr_data_size` per page).
    func storedBytes(_ ref: ObjectRef) -> Int { ref.isHuge ? pageSize : ref.length + checksumBytes }

    /// A page compressed into the pool, or why not.
    private enum Compressed {
        case success(ObjectRef)
        case failure(RefusalReason)
    }

    /// Compresses a page into a new pool object (outside every shard lock).
    private func compressIntoPool(_ page: UnsafeRawBufferPointer, _ slot: inout CompressorPool.Slot) -> Compressed {
        let threshold = configuration.poorCompressionThreshold
        let scratch = UnsafeMutableRawBufferPointer(rebasing: slot.scratch[0..<threshold])
        var ref = ObjectRef(handle: 0, length: pageSize)
        if let compressed = slot.compressor.compress(page, into: scratch) {
            ref.length = compressed
        } else if configuration.poorCompressionPolicy == .refuse {
            rejectCompressPoor.add(1, ordering: .relaxed)
            return .failure(.compressPoor)
        }
        guard let handle = zpool.allocate(size: storedBytes(ref)) else {
            rejectAllocFail.add(1, ordering: .relaxed)
            return .failure(.allocationFailed)
        }
        ref.handle = handle.rawValue
        zpool.withObject(handle) { object in
            if ref.isHuge {
                object.copyMemory(from: page)
                // From the stored copy, not the caller's page, which may change under a racing writer.
                if configuration.checksums {
                    ref.hugeChecksum = tmem32(UnsafeRawBufferPointer(rebasing: object[0..<pageSize])) & 0x7FFF_FFFF
                }
                return
            }
            let compressed = UnsafeRawBufferPointer(rebasing: scratch[0..<ref.length])
            object.copyMemory(from: compressed)
            if configuration.checksums {
                object.storeBytes(of: tmem32(compressed), toByteOffset: ref.length, as: UInt32.self)
            }
        }
        return .success(ref)
    }
}
