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
/// Limits: memory-mapped I/O (`PRAGMA mmap_size`) is not offered (reads must pass through the caches);
/// a process that opens one database file both through this VFS and through another may lose the
/// other's POSIX locks when this VFS closes the file's last connection (POSIX releases every lock of
/// a process on a file when any of its descriptors closes; SQLite's unix VFS works around that only
/// for its own descriptors).
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
    private let files = Mutex<[DeviceInode: (file: DatabaseFile, opens: Int)]>([:])
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
        vfs.pointee.pAppData = Unmanaged.passUnretained(self).toOpaque()
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
        // SQLite keeps no pointer to an unregistered VFS but its open files' (each retains its
        // DatabaseFile, which retains this object), so by now none is open.
        vfs.deallocate()
        free(cName)
    }

    /// Takes the VFS out of SQLite's list: new connections can no longer name it. Connections already
    /// open through it must be closed first.
    public func unregister() {
        guard registered.exchange(false, ordering: .acquiringAndReleasing) else { return }
        sqlite3_vfs_unregister(vfs)
    }

    /// The counters of every file opened through this VFS (``CachedFile``'s `local_hits`,
    /// `cleancache_hits`, `file_reads`, `writes`), and the VFS's own: `change_counter_invalidations`
    /// (a SHARED lock saw another writer's commit), `identity_invalidations` (a WAL read lock saw the
    /// file changed, by another process's checkpoint), `read_errors`, `open_files`.
    public var namedStatistics: [(name: String, value: Int)] {
        var totals = closedFiles.withLock { $0 }
        let open = files.withLock { $0.values.map(\.file) }
        for file in open { for (name, value) in file.cached.namedStatistics { totals[name, default: 0] += value } }
        let names = ["local_hits", "cleancache_hits", "file_reads", "writes"]
        return names.map { ($0, totals[$0] ?? 0) } + [
            ("change_counter_invalidations", counters.counterInvalidations.load(ordering: .relaxed)),
            ("identity_invalidations", counters.identityInvalidations.load(ordering: .relaxed)),
            ("read_errors", counters.readErrors.load(ordering: .relaxed)),
            ("open_files", open.count),
        ]
    }

    // MARK: Files

    /// The shared state of the file `real` has open at `path` (made on its first open here).
    func acquire(path: String, real: UnsafeMutablePointer<sqlite3_file>) throws(TmemError) -> DatabaseFile {
        guard let key = DeviceInode(path: path) else { throw .unavailable("cannot stat \(path): \(Errno.current)") }
        return try files.withLock { (files) throws(TmemError) -> DatabaseFile in
            if let entry = files[key] {
                files[key] = (entry.file, entry.opens + 1)
                return entry.file
            }
            let file = try DatabaseFile(path: path, key: key, real: real, vfs: self)
            files[key] = (file, 1)
            return file
        }
    }

    /// A connection closed `file`: with its last one, the cache goes (offering its pages to cleancache).
    func release(_ file: DatabaseFile) {
        let last = files.withLock { files -> Bool in
            guard let entry = files[file.key] else { return false }
            if entry.opens > 1 {
                files[file.key] = (entry.file, entry.opens - 1)
                return false
            }
            files[file.key] = nil
            return true
        }
        guard last else { return }
        let statistics = file.cached.namedStatistics
        closedFiles.withLock { totals in for (name, value) in statistics { totals[name, default: 0] += value } }
    }
}

final class TmemVFSCounters: Sendable {
    let counterInvalidations = Atomic<Int>(0)
    let identityInvalidations = Atomic<Int>(0)
    let readErrors = Atomic<Int>(0)
}
