#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSQLite
import Synchronization
import Tmem
import TmemCleancache

/// One main database file opened through a ``TmemVFS``: its ``CachedFile`` and what keeps it coherent
/// with the other writers of the file, shared by every connection of this process that has it open.
///
/// Coherency, the way SQLite's own pager keeps its cache valid:
/// - Rollback-journal mode: when a connection takes a SHARED lock (the start of every transaction),
///   the header's file change counter (bytes 24..27, which every committing writer increments) is
///   read from the file; if it differs from the one last seen, another writer changed the file, and
///   every cached page of it goes.
/// - WAL mode: the main file changes only at checkpoints, which need not touch the change counter.
///   A checkpoint writes pages into the main file first and then publishes how far it got (the
///   wal-index's `nBackfill`); a restarted WAL gets new salts. Every read of the main file compares
///   (salts, `nBackfill`) in this connection's wal-index mapping with the last seen: a reader reads a
///   page from the main file only when its frames are backfilled as of the `nBackfill` it loaded, so a
///   change it could act on is always seen first, and every cached page goes.
/// - Writes through this VFS (commits, checkpoints, hot-journal rollbacks, truncation) invalidate the
///   pages they touch (``CachedFile/changing(bytes:_:)``); a write of the header records the counter it
///   writes, so this process's own commits do not read as foreign ones.
/// - Checks and the drops they cause are serialised (one mutex per file): a second connection's check
///   waits until the first one's drop is done, so it never passes while old pages remain.
final class DatabaseFile: @unchecked Sendable {
    let key: DeviceInode
    let cached: CachedFile
    /// What the last check saw.
    private let seen: Mutex<Seen>
    /// The VFS whose counters this file counts in (it outlives its open files: each open retains it).
    unowned(unsafe) let vfs: TmemVFS
    private var counters: TmemVFSCounters { vfs.counters }

    struct Seen {
        /// The change counter last seen (read at a SHARED lock or written here); nil for an empty file.
        var counter: UInt32?
        /// The wal-index's salts and `nBackfill` last seen; nil before the first read in WAL mode.
        var wal: WALMark?
    }

    struct WALMark: Equatable {
        let salts: UInt64
        let backfilled: UInt32
    }

    /// Opens the cache of the file that `real` (the default VFS's file, just opened) has open.
    ///
    /// The change counter is read before the cache checks the file's identity: a writer that changes
    /// the file after the first is seen by the second, or at the next SHARED lock.
    init(path: String, key: DeviceInode, real: UnsafeMutablePointer<sqlite3_file>, vfs: TmemVFS) throws(TmemError) {
        self.key = key
        self.vfs = vfs
        seen = Mutex(Seen(counter: Self.readCounter(real)))
        cached = try CachedFile(path: path, cleancache: vfs.cleancache, pool: vfs.pool, cachePages: vfs.cachePages, writable: false)
    }

    /// xRead: through the caches; past the end of the file the rest is zeroes (SQLITE_IOERR_SHORT_READ).
    /// In WAL mode (`shm`, the connection's wal-index region 0) the checkpoint mark is checked first.
    func read(_ buffer: UnsafeMutableRawPointer, count: Int, at offset: Int, shm: UnsafeRawPointer?) -> Int32 {
        if let shm { checkWAL(shm) }
        let target = UnsafeMutableRawBufferPointer(start: buffer, count: count)
        do throws(TmemError) {
            let n = try cached.read(into: target, at: offset)
            guard n < count else { return SQLITE_OK }
            (buffer + n).initializeMemory(as: UInt8.self, repeating: 0, count: count - n)
            return SQLITE_IOERR_SHORT_READ
        } catch {
            counters.readErrors.add(1, ordering: .relaxed)
            return SQLITE_IOERR_READ
        }
    }

    /// xWrite: through the default VFS's file, invalidating what it touches.
    func write(_ real: UnsafeMutablePointer<sqlite3_file>, _ data: UnsafeRawPointer, count: Int, at offset: Int) -> Int32 {
        cached.changing(bytes: offset..<(offset + count)) {
            let rc = real.pointee.pMethods.pointee.xWrite(real, data, Int32(count), sqlite3_int64(offset))
            if rc == SQLITE_OK, offset <= Self.counterOffset, offset + count >= Self.counterOffset + 4 {
                let written = Self.decodeCounter(data + (Self.counterOffset - offset))
                seen.withLock { $0.counter = written }
            }
            return rc
        }
    }

    /// xTruncate: through the default VFS's file, invalidating the pages between the old and new ends.
    func truncate(_ real: UnsafeMutablePointer<sqlite3_file>, to size: Int) -> Int32 {
        let old = cached.size
        return cached.changing(bytes: min(old, size)..<(max(old, size) + 1)) {
            real.pointee.pMethods.pointee.xTruncate(real, sqlite3_int64(size))
        }
    }

    /// After a SHARED lock was taken: a change counter other than the last seen drops the file's pages.
    func sharedLockTaken(_ real: UnsafeMutablePointer<sqlite3_file>) {
        seen.withLock { seen in
            let now = Self.readCounter(real)
            guard now != seen.counter else { return }
            seen.counter = now
            counters.counterInvalidations.add(1, ordering: .relaxed)
            reload()
        }
    }

    /// Before a read in WAL mode: a checkpoint or a WAL restart since the last look drops the file's pages.
    private func checkWAL(_ shm: UnsafeRawPointer) {
        // aHdr[0].aSalt (bytes 32..39 of the wal-index) and WalCkptInfo.nBackfill (byte 96): the WAL
        // format's documented layout. A torn read only makes a needless drop.
        let mark = WALMark(salts: shm.loadUnaligned(fromByteOffset: 32, as: UInt64.self),
                           backfilled: shm.loadUnaligned(fromByteOffset: 96, as: UInt32.self))
        seen.withLock { seen in
            guard seen.wal != mark else { return }
            if seen.wal != nil { counters.walInvalidations.add(1, ordering: .relaxed) }
            seen.wal = mark
            reload()
        }
    }

    /// A connection opened the file again after it was idle: a change while nobody had it open drops
    /// its pages (the checks at the next lock and read see the rest).
    func reopened() {
        seen.withLock { _ in
            do throws(TmemError) { try cached.revalidate() } catch { cached.invalidate() }
        }
    }

    private func reload() {
        // A file that cannot be stat'ed now keeps its pages dropped and the size last known; reads go
        // to the file, where its own error surfaces.
        do throws(TmemError) { try cached.reload() } catch { cached.invalidate() }
    }

    // MARK: The header's change counter

    /// Where SQLite's database header keeps its file change counter (big-endian, 4 bytes).
    static let counterOffset = 24

    /// Reads the change counter from the file itself (through the default VFS, not the caches): nil
    /// when the file is too short to have a header, or cannot be read.
    static func readCounter(_ real: UnsafeMutablePointer<sqlite3_file>) -> UInt32? {
        var bytes: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
        let rc = withUnsafeMutableBytes(of: &bytes) { raw in
            real.pointee.pMethods.pointee.xRead(real, raw.baseAddress, 4, sqlite3_int64(counterOffset))
        }
        guard rc == SQLITE_OK else { return nil }
        return withUnsafeBytes(of: bytes) { decodeCounter($0.baseAddress!) }
    }

    static func decodeCounter(_ bytes: UnsafeRawPointer) -> UInt32 {
        (0..<4).reduce(0) { $0 << 8 | UInt32(bytes.load(fromByteOffset: $1, as: UInt8.self)) }
    }
}

/// A file's device and inode number: what makes two paths one file.
struct DeviceInode: Hashable {
    let device: UInt64
    let inode: UInt64

    init?(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
    }
}
