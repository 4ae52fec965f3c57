import Tmem
import TmemCleancache
import TmemSQLite
import TmemSQLiteWorkload
import TmemZcache

/// The two ways `tmem cache-demo` reads its database.
enum CacheDemoSide: String, CaseIterable, CustomStringConvertible {
    case defaultVFS = "default VFS"
    case tmemVFS = "tmem VFS"

    var description: String { rawValue }

    func open(_ path: String, budget: Int) throws -> CacheDemoContext {
        switch self {
        case .defaultVFS:
            let db = try SQLiteDatabase(path: path, readOnly: true)
            try db.execute("PRAGMA cache_size=-\(budget / 1024)")
            return CacheDemoContext(side: self, db: db, vfs: nil, zcache: nil,
                                    banner: "default VFS: SQLite's page cache holds \(formatByteCount(budget)); the kernel's page cache of the file is dropped every 64 queries")
        case .tmemVFS:
            let zcache = try Zcache(configuration: .init(limit: budget - CacheDemoCommand.sqliteCacheOnTmem))
            let cleancache = Cleancache(backend: zcache)
            let vfs = try TmemVFS(name: "tmem-cache-demo", cleancache: cleancache, pool: try cleancache.initFS())
            let db = try SQLiteDatabase(path: path, vfs: vfs.name, readOnly: true)
            try db.execute("PRAGMA cache_size=-\(CacheDemoCommand.sqliteCacheOnTmem / 1024)")
            return CacheDemoContext(side: self, db: db, vfs: vfs, zcache: zcache,
                                    banner: "tmem VFS: SQLite's page cache holds \(formatByteCount(CacheDemoCommand.sqliteCacheOnTmem)), "
                                        + "cleancache (zcache, lz4) \(formatByteCount(budget - CacheDemoCommand.sqliteCacheOnTmem)), "
                                        + "reads of the file with O_DIRECT where the file system allows")
        }
    }
}

/// One side's open database and what its report lines need.
struct CacheDemoContext {
    let side: CacheDemoSide
    let db: SQLiteDatabase
    let vfs: TmemVFS?
    let zcache: Zcache?
    let banner: String

    struct Snapshot {
        let readBytes: Int
        let vfs: [String: Int]
    }

    func snapshot() -> Snapshot {
        Snapshot(readBytes: KernelIO.readBytes() ?? 0, vfs: Dictionary(uniqueKeysWithValues: (vfs?.namedStatistics ?? []).map { ($0.name, $0.value) }))
    }

    /// A phase's report: throughput, pages read through the VFS, where they came from, and the memory
    /// holding cached pages now.
    func line(_ name: String, _ result: LookupResult, since before: Snapshot, file path: String) -> String {
        let now = snapshot()
        let diskBytes = now.readBytes - before.readBytes
        let diskPages = diskBytes / pageSize
        let pagesRead = result.pagerMisses
        let hits: String
        let memory: String
        if let zcache {
            let delta = { (key: String) in (now.vfs[key] ?? 0) - (before.vfs[key] ?? 0) }
            hits = "\(delta("cleancache_hits")) from cleancache, \(delta("local_hits")) from the in-process pages (SQLite rereads the header every transaction)"
            let s = zcache.statistics
            memory = "cleancache \(formatByteCount(s.memUsedTotal)) holding \(s.storedPages) pages (\(format1(s.compressionRatio))x)"
        } else {
            hits = "\(max(0, pagesRead - diskPages)) from the kernel's page cache"
            memory = "kernel page cache \(formatByteCount(KernelIO.residentBytes(path) ?? 0)) of the file"
        }
        let avoided = pagesRead > 0 ? Double(max(0, pagesRead - diskPages)) / Double(pagesRead) * 100 : 0
        return "  \(side): \(name): \(Int(result.queriesPerSecond)) queries/s, \(result.queries) queries, "
            + "\(result.mismatches) wrong; \(pagesRead) pages read past SQLite's cache: \(hits); "
            + "\(formatByteCount(diskBytes)) read from disk (\(format1(avoided))% of page reads avoided); \(memory)"
    }
}
