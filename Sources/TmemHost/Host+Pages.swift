import Tmem
import TmemZcache

extension Host {
    /// Offers a page to the host (PUT), which stores it or refuses it by its policy (see ``Host``).
    ///
    /// Policy refusals are decided before the payload is looked at; then the page is stored as it is (a
    /// `compressed` payload as its LZ4 block, without compressing again). After any outcome other than
    /// `.ok` the host holds nothing under the key: a refused put flushes the old page.
    ///
    /// - Parameters:
    ///   - session: The session.
    ///   - pool: The pool's id in this session.
    ///   - object: The object id.
    ///   - index: The page's index in the object.
    ///   - payload: The page (exactly 4096 bytes), or with `compressed` an LZ4 block of 1...4096 bytes
    ///     that expands to exactly one page.
    ///   - compressed: Whether `payload` is an LZ4 block.
    /// - Returns: `.ok`; a refusal (`0x10...0x17`, counted on the session); ``HostStatus/noSuchPool`` for an
    ///   id the session does not have (touching nothing); ``HostStatus/badRequest`` for a payload of the
    ///   wrong size or a block that does not expand to one page.
    /// - Complexity: Two short holds of the state lock, one compression or decompression, and when the
    ///   host is full a division of shares (O(clients log clients)) and up to a few chunk evictions.
    public func put(
        _ session: Session, pool: UInt32, object: UInt64, index: UInt32, payload: UnsafeRawBufferPointer,
        compressed: Bool
    ) -> HostStatus {
        let wellFormed = compressed ? (1...pageSize).contains(payload.count) : payload.count == pageSize
        var rounds = 0
        while true {
            let mayEvict = rounds < Self.evictionRoundsPerPut
            switch state.withLock({ admit(&$0, session, pool, wellFormed: wellFormed, mayEvict: mayEvict) }) {
            case .unknownPool:
                return .noSuchPool
            case .refused(let status, let id):
                store.flushPage(key(id, object, index))
                return status
            case .evict(let victims):
                store.evictEphemeral(from: victims, chunks: 1)
                rounds += 1
            case .admitted(let ticket):
                let k = key(ticket.pool, object, index)
                let result = compressed ? store.putCompressed(k, block: payload).result : store.putCharged(k, page: payload).result
                return state.withLock { settle(&$0, ticket, result) }
            }
        }
    }

    /// Copies a page out (GET). Gets are not destructive: the host keeps its copy.
    ///
    /// - Parameters:
    ///   - session: The session.
    ///   - pool: The pool's id in this session.
    ///   - object: The object id.
    ///   - index: The page's index.
    ///   - buffer: Exactly 4096 bytes to fill.
    ///   - acceptCompressed: Whether the caller takes the page's LZ4 block when it is stored as one.
    /// - Returns: ``HostGetResult/page``, ``HostGetResult/compressed(length:)`` (only with
    ///   `acceptCompressed`; same-filled and incompressible pages still come as pages),
    ///   ``HostGetResult/miss``, or a failure: ``HostStatus/noSuchPool`` (touching nothing),
    ///   ``HostStatus/damaged`` (the host's copy failed its check; it is never returned).
    public func get(
        _ session: Session, pool: UInt32, object: UInt64, index: UInt32, into buffer: UnsafeMutableRawBufferPointer,
        acceptCompressed: Bool
    ) -> HostGetResult {
        precondition(buffer.count == pageSize, "a get fills one page of \(pageSize) bytes")
        guard let (entry, cleancache) = lookup(session, pool) else { return .failed(.noSuchPool) }
        let result = get(key(entry.id, object, index), into: buffer, acceptCompressed: acceptCompressed)
        if let cleancache {
            switch result {
            case .page, .compressed: countGet(cleancache, hit: true)
            case .miss, .failed: countGet(cleancache, hit: false)
            }
        }
        return result
    }

    private func get(_ k: Key, into buffer: UnsafeMutableRawBufferPointer, acceptCompressed: Bool) -> HostGetResult {
        do throws(TmemError) {
            guard acceptCompressed else { return try store.get(k, into: buffer) ? .page : .miss }
            switch try store.getCompressed(k, into: buffer) {
            case .miss: return .miss
            case .page: return .page
            case .lz4Block(let length): return .compressed(length: length)
            }
        } catch {
            return .failed(error.isRetryable ? .unavailable : .damaged)
        }
    }

    /// Drops one page (FLUSH_PAGE).
    ///
    /// - Parameters:
    ///   - session: The session.
    ///   - pool: The pool's id in this session.
    ///   - object: The object id.
    ///   - index: The page's index.
    /// - Returns: `.ok` and whether the page was held; ``HostStatus/noSuchPool`` (touching nothing).
    public func flushPage(_ session: Session, pool: UInt32, object: UInt64, index: UInt32) -> (status: HostStatus, held: Bool) {
        guard let (entry, cleancache) = lookup(session, pool) else { return (.noSuchPool, false) }
        if let cleancache { countInvalidate(cleancache) }
        return (.ok, store.flushPage(key(entry.id, object, index)))
    }

    /// Drops every page of one object (FLUSH_OBJECT); a put of the object racing it does not survive it.
    ///
    /// - Parameters:
    ///   - session: The session.
    ///   - pool: The pool's id in this session.
    ///   - object: The object id.
    /// - Returns: `.ok` and the pages dropped; ``HostStatus/noSuchPool`` (touching nothing).
    /// - Complexity: O(the object's pages).
    public func flushObject(_ session: Session, pool: UInt32, object: UInt64) -> (status: HostStatus, dropped: Int) {
        guard let (entry, cleancache) = lookup(session, pool) else { return (.noSuchPool, 0) }
        if let cleancache { countInvalidate(cleancache) }
        return (.ok, store.flushObject(pool: entry.id, object: ObjectID(rawValue: object)))
    }

    func key(_ pool: PoolID, _ object: UInt64, _ index: UInt32) -> Key {
        Key(pool: pool, object: ObjectID(rawValue: object), index: PageIndex(rawValue: index))
    }
}
