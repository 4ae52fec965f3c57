import Tmem
import TmemCompression
import TmemZPool

/// What ``Zcache/getCompressed(_:into:)`` copied out.
public enum CompressedGetResult: Sendable, Equatable {
    /// The key is not held.
    case miss
    /// The whole page (it was same-filled, stored uncompressed, or the pool does not compress with LZ4).
    case page
    /// The page's LZ4 block, `length` bytes at the start of the buffer, exactly as stored.
    case lz4Block(length: Int)
}

extension Zcache {
    /// Puts a page that arrives already compressed as one LZ4 block (a remote client compressed it), and
    /// stores the block as it came, exactly as Zcache stores its own LZ4 output: no second compression.
    ///
    /// The block is first decoded into a scratch page; it must expand to exactly one page. Then the page
    /// is stored as if it had been put: same-filled pages as their word, a block within the
    /// poor-compression threshold as is (with its checksum), and a longer one as Zcache's policy wants a
    /// poorly compressing page (kept uncompressed, or refused). A pool that does not compress with LZ4
    /// stores the decoded page through its own compressor.
    ///
    /// - Parameters:
    ///   - key: The page's name.
    ///   - block: 1...4096 bytes of LZ4 block format (no frame).
    /// - Returns: As ``putCharged(_:page:)``; `.refused(.compressFailed)` when the block does not decode
    ///   to exactly one page. After any refusal the key holds nothing.
    /// - Complexity: One LZ4 decompression (about a microsecond) more than a put of the page would cost
    ///   in copies, one compression less.
    public func putCompressed(_ key: Key, block: UnsafeRawBufferPointer) -> (result: PutResult, storedBytesDelta: Int) {
        precondition((1...pageSize).contains(block.count), "an LZ4 block of a page is 1...\(pageSize) bytes")
        return put(key) { target in
            // The compressor slot is held until the entry is in the table (as for every put): its scratch
            // holds the decoded page in its upper half, above what compression writes.
            compressors.with { (slot: inout CompressorPool.Slot) -> (result: PutResult, storedBytesDelta: Int) in
                let page = UnsafeMutableRawBufferPointer(rebasing: slot.scratch[pageSize..<2 * pageSize])
                do throws(CompressionError) {
                    var decoder = try PageCompressor(algorithm: .lz4)
                    try decoder.decompress(block, into: page)
                } catch {
                    return (.refused(.compressFailed), 0)
                }
                guard admit() else {
                    poolLimitHit.add(1, ordering: .relaxed)
                    return (.refused(.capacity), 0)
                }
                let decoded = UnsafeRawBufferPointer(page)
                if let word = sameFilledWord(decoded) { return enterSameFilled(word, target) }
                // The look-up decodes a candidate into the scratch's lower half, below the decoded page.
                let hash = deduplicates(target) ? Self.pageHash(decoded) : nil
                if let hash, let copy = sharedCopy(of: decoded, hash: hash, &slot) { return enter(copy, target) }
                guard configuration.compressor == .lz4, block.count <= configuration.poorCompressionThreshold else {
                    switch compressIntoPool(decoded, &slot) {
                    case .failure(let reason): return (.refused(reason), 0)
                    case .success(let ref): return enter(indexed(ref, hash: hash), target)
                    }
                }
                var ref = ObjectRef(handle: 0, length: block.count)
                guard let handle = zpool.allocate(size: storedBytes(ref)) else {
                    rejectAllocFail.add(1, ordering: .relaxed)
                    return (.refused(.allocationFailed), 0)
                }
                ref.handle = handle.rawValue
                zpool.withObject(handle) { object in
                    object.copyMemory(from: block)
                    // From the stored copy, not the caller's block, which may change under a racing writer.
                    if configuration.checksums {
                        let stored = UnsafeRawBufferPointer(rebasing: object[0..<block.count])
                        object.storeBytes(of: tmem32(stored), toByteOffset: block.count, as: UInt32.self)
                    }
                }
                return enter(indexed(ref, hash: hash), target)
            }
        }
    }

    /// Copies a page out, as its LZ4 block when it is stored as one (for a client that decompresses
    /// itself: the host sends the block as stored, and saves a decompression and 1-3 KiB on the wire).
    ///
    /// - Parameters:
    ///   - key: The page's name.
    ///   - buffer: Exactly ``pageSize`` bytes to fill: with the page, or with the block at its start.
    /// - Returns: What was copied; ``CompressedGetResult/page`` for same-filled pages, pages kept
    ///   uncompressed, and every page of a Zcache that does not compress with LZ4.
    /// - Throws: ``TmemError`` (damaged) when the stored object fails its checksum, as ``get(_:into:)``.
    public func getCompressed(_ key: Key, into buffer: UnsafeMutableRawBufferPointer) throws(TmemError)
        -> CompressedGetResult
    {
        precondition(buffer.count == pageSize, "a page is \(pageSize) bytes")
        guard configuration.compressor == .lz4 else { return try get(key, into: buffer) ? .page : .miss }
        let place = locate(key)
        let bit = place.bit
        return try compressors.with { (slot: inout CompressorPool.Slot) throws(TmemError) -> CompressedGetResult in
            try place.shard.state.withLock { (state: inout ShardState) throws(TmemError) -> CompressedGetResult in
                guard let chunk = state.chunks[place.chunkKey], chunk.contains(bit),
                    chunk.record.current != .invalidated
                else { return .miss }
                let value = chunk.value(bit)
                if chunk.ephemeral { touch(chunk, &state) }
                if chunk.isSameFilled(bit) {
                    fillPage(buffer, with: value)
                    return .page
                }
                let ref = chunk.ref(bit)
                if ref.isHuge {
                    try decode(ref, of: key, into: buffer, &slot)
                    return .page
                }
                try zpool.withObject(ZPoolHandle(rawValue: ref.handle)) { (object) throws(TmemError) in
                    buffer.copyMemory(from: try checkedBlock(ref, object, of: key))
                }
                return .lz4Block(length: ref.length)
            }
        }
    }
}
