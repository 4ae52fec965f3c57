import NIOCore
import Tmem
import TmemWire

/// Batches: each run of up to 64 keys of one pool is one BATCH frame and one round trip.
extension RemoteBackend {
    public func putBatch(
        _ keys: UnsafeBufferPointer<Key>, pages: UnsafeBufferPointer<UnsafeRawPointer>,
        results: UnsafeMutableBufferPointer<PutResult>
    ) {
        precondition(pages.count == keys.count && results.count == keys.count, "a batch's arrays differ in length")
        forEachRun(keys) { run in putRun(keys, run, pages: pages, results: results) }
    }

    public func getBatch(
        _ keys: UnsafeBufferPointer<Key>, into pages: UnsafeBufferPointer<UnsafeMutableRawPointer>,
        results: UnsafeMutableBufferPointer<GetResult>
    ) {
        precondition(pages.count == keys.count && results.count == keys.count, "a batch's arrays differ in length")
        forEachRun(keys) { run in getRun(keys, run, pages: pages, results: results) }
    }

    @discardableResult
    public func flushBatch(_ keys: UnsafeBufferPointer<Key>) -> Int {
        var held = 0
        forEachRun(keys) { run in
            guard let reply = exchange(keys, run, op: .flushPage, { _, _ in }) else { return }
            held += reply.entries.filter { $0.status == .ok }.count
        }
        return held
    }

    /// Splits `keys` into runs of one pool, at most a BATCH long.
    private func forEachRun(_ keys: UnsafeBufferPointer<Key>, _ body: (Range<Int>) -> Void) {
        var start = 0
        while start < keys.count {
            var end = start + 1
            while end < keys.count, end - start < Wire.maxBatchEntries, keys[end].pool == keys[start].pool { end += 1 }
            body(start..<end)
            start = end
        }
    }

    private func putRun(
        _ keys: UnsafeBufferPointer<Key>, _ run: Range<Int>, pages: UnsafeBufferPointer<UnsafeRawPointer>,
        results: UnsafeMutableBufferPointer<PutResult>
    ) {
        counters.puts.add(run.count, ordering: .relaxed)
        let reply = exchange(keys, run, op: .put, forPut: true) { buffer, i in
            let key = keys[i]
            writePage(
                UnsafeRawBufferPointer(start: pages[i], count: pageSize),
                header: FrameHeader(op: .put, object: key.object.rawValue, index: key.index.rawValue), into: &buffer,
                entry: true)
        }
        for (n, i) in run.enumerated() {
            guard let reply else {
                if hasPool(keys[i].pool) {
                    counters.refusedUnreachable.add(1, ordering: .relaxed)
                    results[i] = .refused(.unreachable)
                } else {
                    results[i] = .refused(.noSuchPool)
                }
                continue
            }
            results[i] = Self.putResult(reply.entries[n].status)
            if case .stored = results[i] { counters.storedPuts.add(1, ordering: .relaxed) } else {
                counters.refusedByHost.add(1, ordering: .relaxed)
            }
        }
    }

    private func getRun(
        _ keys: UnsafeBufferPointer<Key>, _ run: Range<Int>, pages: UnsafeBufferPointer<UnsafeMutableRawPointer>,
        results: UnsafeMutableBufferPointer<GetResult>
    ) {
        /// One key through the single GET, which also tells a lost page from a miss.
        func single(_ i: Int) {
            do throws(TmemError) {
                results[i] = try get(keys[i], into: UnsafeMutableRawBufferPointer(start: pages[i], count: pageSize)) ? .hit : .miss
            } catch { results[i] = .failed(error) }
        }
        guard run.count > 1 else { return single(run.lowerBound) }
        let flags: WireFlags = configuration.compressPages ? .compressed : []
        guard let reply = exchange(keys, run, op: .get, flags: flags, { _, _ in }) else {
            // Whatever went wrong (a lost session, a timeout), the single path says it per key.
            for i in run { single(i) }
            return
        }
        counters.gets.add(run.count, ordering: .relaxed)
        for (n, i) in run.enumerated() {
            let entry = reply.entries[n]
            let page = UnsafeMutableRawBufferPointer(start: pages[i], count: pageSize)
            switch entry.status {
            case .ok:
                do throws(TmemError) {
                    try copyPage(entry.payload, checksum: entry.checksum, compressed: entry.flags.contains(.compressed), of: keys[i], into: page)
                    counters.hits.add(1, ordering: .relaxed)
                    results[i] = .hit
                } catch { results[i] = .failed(error) }
            case .miss:
                // A miss in a pool that lost a session is a lost page (decided here, no second trip).
                do throws(TmemError) {
                    guard let pool = record(keys[i].pool) else { results[i] = .miss; break }
                    results[i] = try missed(keys[i], pool) ? .hit : .miss
                } catch { results[i] = .failed(error) }
            case .damaged:
                counters.damagedPages.add(1, ordering: .relaxed)
                results[i] = .failed(.corruptPage("the host's copy of \(keys[i]) is damaged"))
            default:
                results[i] = .failed(.unavailable("the host did not return \(keys[i]): \(entry.status)"))
            }
        }
    }

    /// Sends one BATCH of `op` entries for `keys[run]` (all of one pool) and waits for its reply.
    ///
    /// - Parameter entry: Appends entry `i`'s entry for a put (other ops' entries carry no payload and
    ///   are written here).
    /// - Returns: The reply, with one entry per key; nil when there is none (no connection, no such pool,
    ///   a timeout, a lost connection, a malformed reply).
    private func exchange(
        _ keys: UnsafeBufferPointer<Key>, _ run: Range<Int>, op: WireOp, flags: WireFlags = [], forPut: Bool = false,
        _ entry: (inout ByteBuffer, Int) -> Void
    ) -> Frame? {
        guard let (connection, epoch) = try? session.connection(),
            let (record, current) = hostPool(keys[run.lowerBound].pool, epoch: epoch, connection: connection, forPut: forPut),
            current
        else { return nil }
        let outcome = connection.request(deadline: deadline()) { buffer, id in
            buffer.writeFrameHeader(FrameHeader(op: .batch, count: UInt16(run.count), requestID: id, pool: record.hostPool))
            for i in run {
                if op == .put {
                    entry(&buffer, i)
                } else {
                    buffer.writeBatchEntry(op: op, flags: flags, object: keys[i].object.rawValue, index: keys[i].index.rawValue)
                }
            }
        }
        guard case .reply(let reply) = outcome, reply.header.op == .batch, reply.entries.count == run.count else {
            if op == .put {
                // A put the host may still do: flushed behind it, so a refusal leaves nothing.
                connection.send { buffer in
                    buffer.writeFrameHeader(FrameHeader(op: .batch, flags: .quiet, count: UInt16(run.count), pool: record.hostPool))
                    for i in run { buffer.writeBatchEntry(op: .flushPage, object: keys[i].object.rawValue, index: keys[i].index.rawValue) }
                }
            }
            if case .timedOut = outcome { counters.timeouts.add(1, ordering: .relaxed) }
            return nil
        }
        return reply
    }
}
