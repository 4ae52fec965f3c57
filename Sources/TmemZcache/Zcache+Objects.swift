import Synchronization
import Tmem

/// One object's record: which chunks hold its pages, and whether it was invalidated.
///
/// A put looks up its object's record before it starts and checks, under the shard lock where it
/// inserts, that the record was not invalidated meanwhile: so a put that raced
/// ``Zcache/flushObject(pool:object:)`` is refused instead of resurrecting the object (the cleancache
/// rule: after an invalidation no get returns older data). ``Zcache/flushObject(pool:object:)`` walks
/// only the record's chunks, so flushing a file costs its own pages, not the table.
///
/// `state` is atomic (read under shard locks); the chunk list is guarded by the lock of the
/// ``ObjectTable`` shard that holds the record.
final class ObjectRecord: @unchecked Sendable {
    // @unchecked: `firstChunk` and `chunkCount` are only touched under the owning ObjectTable shard's
    // Mutex; `state` is an Atomic.
    enum State: UInt8 {
        /// In the table; puts may insert.
        case live
        /// Left the table because its last chunk went (not an invalidation): a put holding it looks up
        /// the current record, unless a flush ran in its table shard meanwhile.
        case retired
        /// Invalidated by a flush (or its pool destroyed): puts holding it are refused.
        case invalidated
    }

    let name: ObjectName
    let state = Atomic<UInt8>(State.live.rawValue)
    unowned(unsafe) var firstChunk: Chunk?
    var chunkCount = 0

    init(name: ObjectName) { self.name = name }

    var current: State { State(rawValue: state.load(ordering: .acquiring))! }

    /// Bytes a record costs (the object with its header, and its table entry), counted as metadata.
    static let cost = 96
}

/// A pool's object: (pool, object id).
struct ObjectName: Hashable, Sendable {
    var pool: UInt32
    var object: UInt64
}

/// The records of every object, in shards by a hash of the name.
///
/// Lock ordering: a Zcache shard lock may be held when a table shard's lock is taken, never the reverse.
final class ObjectTable: Sendable {
    static let shardCount = 64

    struct Shard: @unchecked Sendable {
        // @unchecked: records are only reached through this Mutex (and atomics inside them).
        var records: [ObjectName: ObjectRecord] = [:]
        /// Flushes run in this shard so far: a put that holds a retired record trusts a fresh one only if
        /// no flush ran in between.
        var flushes: UInt64 = 0
    }

    final class Box: Sendable {
        let state = Mutex(Shard())
    }

    let shards: [Box] = (0..<ObjectTable.shardCount).map { _ in Box() }
    /// Metadata bytes of every record, for the limit.
    let bytes = Atomic<Int>(0)

    @inline(__always)
    func shard(_ name: ObjectName) -> Box {
        var h = name.object &* 0x9E37_79B9_7F4A_7C15
        h ^= UInt64(name.pool) &* 0xC2B2_AE3D_27D4_EB4F
        return shards[Int(truncatingIfNeeded: h >> 58) & (Self.shardCount - 1)]
    }

    /// The object's live record (made if missing), and the shard's flush count at this moment.
    func current(_ name: ObjectName) -> (ObjectRecord, UInt64) {
        shard(name).state.withLock { shard in
            if let record = shard.records[name] { return (record, shard.flushes) }
            let record = ObjectRecord(name: name)
            shard.records[name] = record
            bytes.add(ObjectRecord.cost, ordering: .relaxed)
            return (record, shard.flushes)
        }
    }

    /// For a put holding a retired record: the current one, if no flush ran in the shard since `flushes`.
    func renewed(_ name: ObjectName, since flushes: UInt64) -> ObjectRecord? {
        shard(name).state.withLock { shard in
            guard shard.flushes == flushes else { return nil }
            if let record = shard.records[name] { return record }
            let record = ObjectRecord(name: name)
            shard.records[name] = record
            bytes.add(ObjectRecord.cost, ordering: .relaxed)
            return record
        }
    }

    /// Adds a new chunk to its record's list (the chunk's shard lock held), if the record is still its
    /// object's record in the table.
    ///
    /// The check is made here, under this table shard's lock, because a put checks its record's state
    /// before it links: a flush (``invalidate(_:)``) or a retirement that runs between that check and the
    /// link would otherwise leave the chunk on a record no flush can find (its pages outliving every
    /// later flushObject, still counted in usage; a retired record's pages even visible to gets).
    ///
    /// - Returns: false, linking nothing, when the record was invalidated or retired meanwhile.
    func link(_ chunk: Chunk) -> Bool {
        let record = chunk.record
        return shard(record.name).state.withLock { shard in
            guard shard.records[record.name] === record else { return false }
            chunk.nextInObject = record.firstChunk
            chunk.previousInObject = nil
            record.firstChunk?.previousInObject = chunk
            record.firstChunk = chunk
            record.chunkCount += 1
            return true
        }
    }

    /// Takes a chunk out of its record's list (the chunk's shard lock held); retires a live record
    /// whose last chunk this was.
    func unlink(_ chunk: Chunk) {
        let record = chunk.record
        shard(record.name).state.withLock { shard in
            if let previous = chunk.previousInObject {
                previous.nextInObject = chunk.nextInObject
            } else if record.firstChunk === chunk {
                record.firstChunk = chunk.nextInObject
            }
            chunk.nextInObject?.previousInObject = chunk.previousInObject
            chunk.nextInObject = nil
            chunk.previousInObject = nil
            record.chunkCount -= 1
            if record.chunkCount == 0, shard.records[record.name] === record {
                shard.records[record.name] = nil
                bytes.subtract(ObjectRecord.cost, ordering: .relaxed)
                record.state.store(ObjectRecord.State.retired.rawValue, ordering: .releasing)
            }
        }
    }

    /// Retires a record that holds no chunk (a put of a new object was refused), so refused puts leave
    /// no records behind. A put still holding it renews it (``renewed(_:since:)``).
    func retireIfEmpty(_ record: ObjectRecord) {
        shard(record.name).state.withLock { shard in
            guard record.chunkCount == 0, shard.records[record.name] === record else { return }
            shard.records[record.name] = nil
            bytes.subtract(ObjectRecord.cost, ordering: .relaxed)
            record.state.store(ObjectRecord.State.retired.rawValue, ordering: .releasing)
        }
    }

    /// Invalidates an object: its record leaves the table, marked invalidated, and the first index of
    /// each of its chunks is returned for the caller to drop.
    func invalidate(_ name: ObjectName) -> [UInt32] {
        shard(name).state.withLock { shard in
            shard.flushes &+= 1
            guard let record = shard.records.removeValue(forKey: name) else { return [] }
            bytes.subtract(ObjectRecord.cost, ordering: .relaxed)
            record.state.store(ObjectRecord.State.invalidated.rawValue, ordering: .releasing)
            var bases: [UInt32] = []
            bases.reserveCapacity(record.chunkCount)
            var chunk = record.firstChunk
            while let c = chunk {
                bases.append(c.base)
                chunk = c.nextInObject
            }
            return bases
        }
    }

    /// Invalidates every record of a pool (it is being destroyed).
    func invalidatePool(_ pool: UInt32) {
        for box in shards {
            box.state.withLock { shard in
                shard.flushes &+= 1
                for (name, record) in shard.records where name.pool == pool {
                    shard.records[name] = nil
                    bytes.subtract(ObjectRecord.cost, ordering: .relaxed)
                    record.state.store(ObjectRecord.State.invalidated.rawValue, ordering: .releasing)
                }
            }
        }
    }
}
