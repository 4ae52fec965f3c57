#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSQLite
import Synchronization
import Tmem
import TmemCleancache

/// A SQLite VFS that wraps the system's default VFS (unix) and sends reads of main database files
/// through a ``CachedFile``: a small in-process cache, then cleancache (any backend: Zcache, a host),
/// then the file, read with `O_DIRECT` where the file system allows, so the kernel's page cache does
/// not hide what cleancache saves. Journals, WAL files and temporary files go to the default VFS
/// untouched. See ``DatabaseFile`` for how the caches stay coherent with other connections and
/// processes writing the file.
///
/// Open a database through it with `SQLiteDatabase(path:vfs: "tmem")` (or `sqlite3_open_v2`'s zVfs,
/// or `file:...?vfs=tmem` URIs).
///
/// Files stay open here after their last connection closes (up to ``idleFiles`` of them, the least
/// recently closed going first): POSIX releases every lock a process holds on a file when it closes any
/// descriptor of it, so this VFS closes its own descriptors of a file only while no connection of its
/// own has the file open, under the lock that a new open waits for; and a reopened file keeps its
/// caches and what its checks last saw.
///
/// Limits: memory-mapped I/O (`PRAGMA mmap_size`) is not offered (reads must pass through the caches);
/// a process that opens one database file both through this VFS and through another may lose the
/// other's POSIX locks when this VFS closes an idle file (SQLite's unix VFS works around that only for
/// its own descriptors); the cache reopens a database by its path, so a file renamed over between
/// SQLite's open and the cache's is read from the wrong inode (SQLite's own pager has the same window
/// for its hot-journal check).
///
/// Thread-safe: connections on several threads may use it at once.
public final class TmemVFS: @unchecked Sendable {
    /// The name SQLite knows it by.
    public let name: String
    public let cleancache: Cleancache
    /// The cleancache pool every file opened through this VFS is cached in.
    public let pool: FSPool
    /// Pages each open file keeps in this process (besides SQLite's own page cache).
    public let cachePages: Int
    let counters = TmemVFSCounters()
    /// The default VFS, which does the I/O.
    let base: UnsafeMutablePointer<sqlite3_vfs>
    private let vfs: UnsafeMutablePointer<sqlite3_vfs>
    private let cName: UnsafeMutablePointer<CChar>
    private let files = Mutex<FileTable>(FileTable())
    /// Files kept open after their last connection closed.
    public static let idleFiles = 16
    /// The counters of files no longer open, kept for ``namedStatistics``.
    private let closedFiles = Mutex<[String: Int]>([:])
    private let registered = Atomic<Bool>(false)

    /// Registers a VFS named `name` with SQLite, caching in `pool` of `cleancache`.
    ///
    /// - Parameters:
    ///   - cachePages: Pages each open file keeps in this process, in front of cleancache. SQLite keeps
    ///     its own page cache above (`PRAGMA cache_size`): this one only hands pages to cleancache as
    ///     they leave it, so it may be small.
    ///   - makeDefault: Whether connections that name no VFS use this one.
    /// - Throws: ``SQLiteError`` when SQLite has no default VFS or refuses the registration (a VFS of
    ///   that name is registered already: unregister it first).
    public init(name: String = "tmem", cleancache: Cleancache, pool: FSPool, cachePages: Int = 64, makeDefault: Bool = false) throws(SQLiteError) {
        guard sqlite3_vfs_find(name) == nil else { throw SQLiteError(code: SQLITE_ERROR, message: "a VFS named \(name) is registered already") }
        guard let base = sqlite3_vfs_find(nil) else { throw SQLiteError(code: SQLITE_ERROR, message: "SQLite has no default VFS") }
        self.name = name
        self.cleancache = cleancache
        self.pool = pool
        self.cachePages = cachePages
        self.base = base
        cName = strdup(name)!
        vfs = .allocate(capacity: 1)
        vfs.initialize(to: Self.methods(base: base.pointee))
        vfs.pointee.zName = UnsafePointer(cName)
        vfs.pointee.pAppData = Unmanaged.passRetained(VFSBox(base: base, vfs: self)).toOpaque()
        let rc = sqlite3_vfs_register(vfs, makeDefault ? 1 : 0)
        guard rc == SQLITE_OK else {
            vfs.deallocate()
            free(cName)
            throw SQLiteError(code: rc, message: "cannot register the VFS \(name)")
        }
        registered.store(true, ordering: .releasing)
    }

    deinit {
        unregister()
        // Every open main file retains this object, so none is open now; idle ones close here. The
        // sqlite3_vfs, its name and its VFSBox stay: a connection through it may outlive this object
        // (one with temporary files only), and keeps calling the default VFS through them.
        for file in files.withLock({ $0.entries.values.map(\.file) }) { file.cached.closeDescriptors() }
    }

    /// Takes the VFS out of SQLite's list: new connections can no longer name it. Connections already
    /// open through it must be closed first.
    public func unregister() {
        guard registered.exchange(false, ordering: .acquiringAndReleasing) else { return }
        sqlite3_vfs_unregister(vfs)
    }

    /// The counters of every file opened through this VFS (``CachedFile``'s `local_hits`,
    /// `cleancache_hits`, `file_reads`, `writes`), and the VFS's own: `change_counter_invalidations`
    /// (a SHARED lock saw another writer's commit), `wal_invalidations` (a read saw a checkpoint or a
    /// WAL restart it had not seen), `read_errors`, `open_files` (with a connection now).
    public var namedStatistics: [(name: String, value: Int)] {
        var totals = closedFiles.withLock { $0 }
        let open = files.withLock { $0.entries.values.map(\.file) }
        for file in open { for (name, value) in file.cached.namedStatistics { totals[name, default: 0] += value } }
        let names = ["local_hits", "cleancache_hits", "file_reads", "writes"]
        return names.map { ($0, totals[$0] ?? 0) } + [
            ("change_counter_invalidations", counters.counterInvalidations.load(ordering: .relaxed)),
            ("wal_invalidations", counters.walInvalidations.load(ordering: .relaxed)),
            ("read_errors", counters.readErrors.load(ordering: .relaxed)),
            ("open_files", files.withLock { $0.entries.values.filter { $0.opens > 0 }.count }),
        ]
    }

    // MARK: Files

    /// The shared state of the file `real` has open at `path` (made on its first open here, kept while
    /// idle).
    func acquire(path: String, real: UnsafeMutablePointer<sqlite3_file>) throws(TmemError) -> DatabaseFile {
        guard let key = DeviceInode(path: path) else { throw .unavailable("cannot stat \(path): \(Errno.current)") }
        return try files.withLock { (table) throws(TmemError) -> DatabaseFile in
            if let entry = table.entries[key] {
                table.entries[key] = (entry.file, entry.opens + 1)
                if entry.opens == 0 {
                    // Under the table's lock: a second opener waits until the first has checked it.
                    table.idle.removeAll { $0 == key }
                    entry.file.reopened()
                }
                return entry.file
            }
            let file = try DatabaseFile(path: path, key: key, real: real, vfs: self)
            table.entries[key] = (file, 1)
            return file
        }
    }

    /// A connection closed `file`. With its last one the file becomes idle; past ``idleFiles`` idle
    /// files the least recently closed one closes its descriptors (under the table's lock, so no
    /// connection of ours opens it meanwhile) and goes, offering its pages to cleancache.
    func release(_ file: DatabaseFile) {
        let closing = files.withLock { table -> DatabaseFile? in
            guard let entry = table.entries[file.key] else { return nil }
            table.entries[file.key] = (entry.file, entry.opens - 1)
            guard entry.opens == 1 else { return nil }
            table.idle.append(file.key)
            guard table.idle.count > Self.idleFiles, let oldest = table.idle.first, let gone = table.entries[oldest]?.file else { return nil }
            table.idle.removeFirst()
            table.entries[oldest] = nil
            gone.cached.closeDescriptors()
            return gone
        }
        guard let closing else { return }
        let statistics = closing.cached.namedStatistics
        closedFiles.withLock { totals in for (name, value) in statistics { totals[name, default: 0] += value } }
    }
}

/// The files a ``TmemVFS`` has open, with their connections, and the idle ones oldest first.
struct FileTable {
    var entries: [DeviceInode: (file: DatabaseFile, opens: Int)] = [:]
    var idle: [DeviceInode] = []
}

final class TmemVFSCounters: Sendable {
    let counterInvalidations = Atomic<Int>(0)
    let walInvalidations = Atomic<Int>(0)
    let readErrors = Atomic<Int>(0)
}
