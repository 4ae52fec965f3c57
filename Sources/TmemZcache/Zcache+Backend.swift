import Synchronization
import Tmem
import TmemCompression
import TmemZPool

extension Zcache {
    public func createPool(_ kind: PoolKind) throws(TmemError) -> PoolID {
        let raw = nextPool.wrappingAdd(1, ordering: .relaxed).oldValue
        guard raw < Self.maxPools else { throw .tooManyPools("zcache serves at most \(Self.maxPools - 1) pools") }
        pools[Int(raw)].state.store(PoolSlot.encode(kind), ordering: .releasing)
        return PoolID(rawValue: raw)
    }

    public func destroyPool(_ pool: PoolID) {
        guard Int(pool.rawValue) < Self.maxPools,
            pools[Int(pool.rawValue)].state.exchange(0, ordering: .acquiringAndReleasing) != 0
        else { return }
        // Dead first: a put that takes a shard lock after the sweep below sees it and refuses.
        dropChunks { $0.pool == pool.rawValue }
    }

    public func put(_ key: Key, page: UnsafeRawBufferPointer) -> PutResult {
        precondition(page.count == pageSize, "a page is \(pageSize) bytes")
        guard isLive(key.pool) else {
            rejectNoSuchPool.add(1, ordering: .relaxed)
            return .refused(.noSuchPool)
        }
        guard admit() else {
            poolLimitHit.add(1, ordering: .relaxed)
            flushPage(key)
            return .refused(.capacity)
        }
        let place = locate(key)
        if let word = sameFilledWord(page) {
            let inserted = place.shard.state.withLock { state in
                insert(key, place, value: word, same: true, &state)
            }
            return inserted ? .stored : refuseDeadPool()
        }
        // The compressor slot is held until the entry is in the table, so that compaction (which takes
        // every slot) never sees an allocated object that no entry refers to yet.
        let outcome = compressors.with { (slot: inout CompressorPool.Slot) -> Compressed in
            let compressed = compressIntoPool(page, &slot)
            guard case .success(let ref) = compressed else { return compressed }
            // The object may have opened a new span: check the limit again, with room for the entry.
            if usage + Chunk.maxGrowth > limitBytes.load(ordering: .relaxed) {
                zpool.free(ZPoolHandle(rawValue: ref.handle))
                limitHit.store(true, ordering: .relaxed)
                poolLimitHit.add(1, ordering: .relaxed)
                return .failure(.capacity)
            }
            let inserted = place.shard.state.withLock { state in
                insert(key, place, value: ref.value, same: false, &state)
            }
            guard inserted else {
                zpool.free(ZPoolHandle(rawValue: ref.handle))
                return .failure(.noSuchPool)
            }
            return compressed
        }
        switch outcome {
        case .success: return .stored
        case .failure(.noSuchPool): return refuseDeadPool()
        case .failure(let reason):
            flushPage(key)
            return .refused(reason)
        }
    }

    private func refuseDeadPool() -> PutResult {
        rejectNoSuchPool.add(1, ordering: .relaxed)
        return .refused(.noSuchPool)
    }

    public func get(_ key: Key, into page: UnsafeMutableRawBufferPointer) throws(TmemError) -> Bool {
        precondition(page.count == pageSize, "a page is \(pageSize) bytes")
        let place = locate(key)
        let bit = place.bit
        return try compressors.with { (slot: inout CompressorPool.Slot) throws(TmemError) -> Bool in
            try place.shard.state.withLock { (state: inout ShardState) throws(TmemError) -> Bool in
                guard let chunk = state.chunks[place.chunkKey], chunk.contains(bit) else { return false }
                let value = chunk.value(bit)
                if chunk.isSameFilled(bit) {
                    fillPage(page, with: value)
                    return true
                }
                let ref = ObjectRef(value)
                try zpool.withObject(ZPoolHandle(rawValue: ref.handle)) { (object) throws(TmemError) in
                    if ref.isHuge {
                        page.copyMemory(from: UnsafeRawBufferPointer(rebasing: object[0..<pageSize]))
                        return
                    }
                    let compressed = UnsafeRawBufferPointer(rebasing: object[0..<ref.length])
                    if configuration.checksums {
                        let stored = object.loadUnaligned(fromByteOffset: ref.length, as: UInt32.self)
                        guard objectChecksum(compressed) == stored else {
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
                return true
            }
        }
    }

    @discardableResult
    public func flushPage(_ key: Key) -> Bool {
        let place = locate(key)
        return place.shard.state.withLock { state in
            guard let chunk = state.chunks[place.chunkKey], chunk.contains(place.bit) else { return false }
            remove(chunk, place.bit, place.chunkKey, &state)
            return true
        }
    }

    @discardableResult
    public func flushObject(pool: PoolID, object: ObjectID) -> Int {
        dropChunks { $0.pool == pool.rawValue && $0.object == object.rawValue }
    }

    /// Drops every chunk whose key matches, in every shard.
    ///
    /// - Returns: The number of pages dropped.
    @discardableResult
    private func dropChunks(where matches: (ChunkKey) -> Bool) -> Int {
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
                return
            }
            let compressed = UnsafeRawBufferPointer(rebasing: scratch[0..<ref.length])
            object.copyMemory(from: compressed)
            if configuration.checksums {
                object.storeBytes(of: objectChecksum(compressed), toByteOffset: ref.length, as: UInt32.self)
            }
        }
        return .success(ref)
    }
}
