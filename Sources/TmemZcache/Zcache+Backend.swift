import Synchronization
import Tmem
import TmemCompression
import TmemZPool

extension Zcache {
    public func createPool(_ kind: PoolKind) throws(TmemError) -> PoolID { try createPool(kind, meters: []) }

    /// Creates an empty pool whose every change of pages and stored bytes is also added to `meters`
    /// (besides the pool's own meter, which ``usage(of:)`` reads): how a host keeps exact per-client and
    /// host-wide totals without summing pools. A meter may be shared by any number of pools.
    ///
    /// - Parameters:
    ///   - kind: Persistent or ephemeral.
    ///   - meters: Meters to keep up to date while the pool lives; they see its pages leave when it is
    ///     destroyed.
    /// - Returns: The new pool's id.
    /// - Throws: ``TmemError`` (``TmemError/isTooManyPools``) when ``maxPools`` - 1 pools live.
    public func createPool(_ kind: PoolKind, meters: [UsageMeter]) throws(TmemError) -> PoolID {
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
                pools[slot].metering.withLock { $0 = (id, [UsageMeter()] + meters) }
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
        let dying = UInt64(pool.rawValue) << 8 | PoolSlot.dyingKind
        guard slot.state.compareExchange(expected: state, desired: dying, ordering: .acquiringAndReleasing).exchanged
        else { return }
        // Dead first: a put that takes a shard lock after the sweep below sees it and refuses. The slot
        // stays dying (not reusable) until the sweep is done, so the pool's meters see every page leave.
        objects.invalidatePool(pool.rawValue)
        dropChunks { $0.pool == pool.rawValue }
        for shard in shards { shard.state.withLock { _ = $0.usage.removeValue(forKey: pool.rawValue) } }
        slot.metering.withLock { $0 = (0, []) }
        slot.state.store(0, ordering: .releasing)
    }

    public func putCharged(_ key: Key, page: UnsafeRawBufferPointer) -> (result: PutResult, storedBytesDelta: Int) {
        precondition(page.count == pageSize, "a page is \(pageSize) bytes")
        return put(key) { target in store(page, target) }
    }

    /// The frame of every put: refuses a dead pool, takes the object's record before anything else (a
    /// flush from then on refuses the put), runs `store`, and after a refusal makes sure the key holds
    /// nothing and leaves no record behind.
    func put(_ key: Key, _ store: (InsertTarget) -> (result: PutResult, storedBytesDelta: Int))
        -> (result: PutResult, storedBytesDelta: Int)
    {
        guard let kind = kind(of: key.pool.rawValue) else {
            rejectNoSuchPool.add(1, ordering: .relaxed)
            return (.refused(.noSuchPool), 0)
        }
        let name = ObjectName(pool: key.pool.rawValue, object: key.object.rawValue)
        let (record, flushes) = objects.current(name)
        let target = InsertTarget(key: key, place: locate(key), record: record, flushes: flushes, ephemeral: kind == .ephemeral)
        let outcome = store(target)
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
        if let word = sameFilledWord(page) { return enterSameFilled(word, target) }
        // The compressor slot is held until the entry is in the table, so that compaction (which takes
        // every slot) never sees an allocated object (or a reference to a shared copy) that no entry
        // refers to yet.
        return compressors.with { (slot: inout CompressorPool.Slot) -> (result: PutResult, storedBytesDelta: Int) in
            let hash = deduplicates(target) ? Self.pageHash(page) : nil
            if let hash, let copy = sharedCopy(of: page, hash: hash, &slot) { return enter(copy, target) }
            switch compressIntoPool(page, &slot) {
            case .failure(let reason): return (.refused(reason), 0)
            case .success(let ref): return enter(indexed(ref, hash: hash), target)
            }
        }
    }

    /// Enters a same-filled page.
    func enterSameFilled(_ word: UInt64, _ target: InsertTarget) -> (result: PutResult, storedBytesDelta: Int) {
        target.place.shard.state.withLock { state in finish(insert(target, value: word, same: true, &state)) }
    }

    /// Enters a page's new object, or a reference to a shared copy (its compressor slot held): the object
    /// may have opened a new span, so the limit is checked again, with room for the entry, after dropping
    /// ephemeral pages if that is what it takes; the object (or the reference) is given up when the entry
    /// is refused.
    func enter(_ ref: ObjectRef, _ target: InsertTarget) -> (result: PutResult, storedBytesDelta: Int) {
        if usage + Chunk.maxGrowth > limitBytes.load(ordering: .relaxed),
            evictEphemeral(pages: Self.evictionPagesPerPut) == 0
                || usage + Chunk.maxGrowth > limitBytes.load(ordering: .relaxed)
        {
            discard(ref)
            limitHit.store(true, ordering: .relaxed)
            poolLimitHit.add(1, ordering: .relaxed)
            return (.refused(.capacity), 0)
        }
        return target.place.shard.state.withLock { state in
            let inserted = insert(target, value: ref.value, same: false, deduplicated: ref.isDeduplicated, &state)
            if case .refused = inserted.result { discard(ref) }
            return finish(inserted)
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
                try decode(chunk.ref(bit), of: key, into: page, &slot)
                return true
            }
        }
    }

    /// Copies an object out of the pool into `page`, checking it first (shard lock held).
    func decode(
        _ ref: ObjectRef, of key: Key, into page: UnsafeMutableRawBufferPointer, _ slot: inout CompressorPool.Slot
    ) throws(TmemError) {
        try zpool.withObject(ZPoolHandle(rawValue: ref.handle)) { (object) throws(TmemError) in
            if ref.isHuge {
                let bytes = UnsafeRawBufferPointer(rebasing: object[0..<pageSize])
                if configuration.checksums, tmem32(bytes) & ref.checksumMask != ref.hugeChecksum {
                    corruptObjects.add(1, ordering: .relaxed)
                    throw .corruptPage("the uncompressed object of \(key) fails its checksum")
                }
                page.copyMemory(from: bytes)
                return
            }
            let compressed = try checkedBlock(ref, object, of: key)
            do throws(CompressionError) {
                try slot.compressor.decompress(compressed, into: page)
            } catch {
                corruptObjects.add(1, ordering: .relaxed)
                throw .corruptPage("the compressed object of \(key) does not decompress: \(error.message)")
            }
        }
    }

    /// The compressed bytes of an object, after its checksum (if any) was verified (shard lock held).
    func checkedBlock(_ ref: ObjectRef, _ object: UnsafeMutableRawBufferPointer, of key: Key) throws(TmemError)
        -> UnsafeRawBufferPointer
    {
        let compressed = UnsafeRawBufferPointer(rebasing: object[0..<ref.length])
        if configuration.checksums {
            let stored = object.loadUnaligned(fromByteOffset: ref.length, as: UInt32.self)
            guard tmem32(compressed) == stored else {
                corruptObjects.add(1, ordering: .relaxed)
                throw .corruptPage("the compressed object of \(key) fails its checksum")
            }
        }
        return compressed
    }

    @discardableResult
    public func flushPage(_ key: Key) -> Bool { flushCharged(key) != nil }

    /// Drops one page.
    ///
    /// - Returns: The stored bytes it took, or nil if it was not held.
    func flushCharged(_ key: Key) -> Int? {
        let place = locate(key)
        return place.shard.state.withLock { state -> Int? in
            guard let chunk = state.chunks[place.chunkKey], chunk.contains(place.bit) else { return nil }
            let bytes = entryBytes(chunk, place.bit)
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

    /// What a live pool holds, from its own meter.
    ///
    /// - Complexity: O(1): an uncontended lock and two atomic loads.
    public func usage(of pool: PoolID) -> PoolUsage? {
        guard isLive(pool) else { return nil }
        return pools[Int(pool.rawValue) & (Self.maxPools - 1)].meters(of: pool.rawValue).first?.usage
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
    enum Compressed {
        case success(ObjectRef)
        case failure(RefusalReason)
    }

    /// Compresses a page into a new pool object (outside every shard lock).
    func compressIntoPool(_ page: UnsafeRawBufferPointer, _ slot: inout CompressorPool.Slot) -> Compressed {
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
