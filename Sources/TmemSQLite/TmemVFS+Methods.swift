import CSQLite
import Tmem

// The C side of ``TmemVFS``: its sqlite3_vfs and the sqlite3_io_methods of the main database files it
// opens. A main database file is a `tmem_sqlite3_file` (a header holding the retained
// ``DatabaseFile``) with the default VFS's file right after it; any other file (journal, WAL,
// temporary) is the default VFS's file itself, at the start of the same allocation, with the default
// VFS's methods: SQLite never sees the difference, and those files pay nothing.

extension TmemVFS {
    /// The VFS's method table: xOpen is ours, the rest is the default VFS's (the system calls of version
    /// 3 are left out: they exist for SQLite's own tests).
    static func methods(base: sqlite3_vfs) -> sqlite3_vfs {
        var vfs = base
        vfs.iVersion = min(base.iVersion, 2)
        vfs.szOsFile = Int32(MemoryLayout<tmem_sqlite3_file>.size) + base.szOsFile
        vfs.pNext = nil
        vfs.xOpen = { vfs, name, file, flags, outFlags in
            let box = VFSBox.of(vfs)
            // After the TmemVFS went (a connection outliving it, such as a temporary database's):
            // the default VFS's files, uncached.
            guard let me = box.vfs else { return box.base.pointee.xOpen(box.base, name, file, flags, outFlags) }
            return me.open(name, file!, flags: flags, outFlags: outFlags)
        }
        vfs.xDelete = { vfs, name, syncDir in wrapped(vfs).pointee.xDelete(wrapped(vfs), name, syncDir) }
        vfs.xAccess = { vfs, name, flags, result in wrapped(vfs).pointee.xAccess(wrapped(vfs), name, flags, result) }
        vfs.xFullPathname = { vfs, name, n, out in wrapped(vfs).pointee.xFullPathname(wrapped(vfs), name, n, out) }
        vfs.xDlOpen = { vfs, name in wrapped(vfs).pointee.xDlOpen(wrapped(vfs), name) }
        vfs.xDlError = { vfs, n, message in wrapped(vfs).pointee.xDlError(wrapped(vfs), n, message) }
        vfs.xDlSym = { vfs, handle, symbol in wrapped(vfs).pointee.xDlSym(wrapped(vfs), handle, symbol) }
        vfs.xDlClose = { vfs, handle in wrapped(vfs).pointee.xDlClose(wrapped(vfs), handle) }
        vfs.xRandomness = { vfs, n, out in wrapped(vfs).pointee.xRandomness(wrapped(vfs), n, out) }
        vfs.xSleep = { vfs, us in wrapped(vfs).pointee.xSleep(wrapped(vfs), us) }
        vfs.xCurrentTime = { vfs, now in wrapped(vfs).pointee.xCurrentTime(wrapped(vfs), now) }
        vfs.xGetLastError = { vfs, n, out in wrapped(vfs).pointee.xGetLastError(wrapped(vfs), n, out) }
        vfs.xCurrentTimeInt64 = base.iVersion >= 2 ? { vfs, now in wrapped(vfs).pointee.xCurrentTimeInt64(wrapped(vfs), now) } : nil
        vfs.xSetSystemCall = nil
        vfs.xGetSystemCall = nil
        vfs.xNextSystemCall = nil
        return vfs
    }

    /// xOpen: a main database file is wrapped; anything else is the default VFS's own file.
    func open(_ name: sqlite3_filename?, _ file: UnsafeMutablePointer<sqlite3_file>, flags: Int32, outFlags: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard flags & SQLITE_OPEN_MAIN_DB != 0, let name else { return base.pointee.xOpen(base, name, file, flags, outFlags) }
        let real = tmem_sqlite3_file_real(file)!
        file.pointee.pMethods = nil
        let rc = base.pointee.xOpen(base, name, real, flags, outFlags)
        guard rc == SQLITE_OK else { return rc }
        let database: DatabaseFile
        do throws(TmemError) {
            database = try acquire(path: String(cString: name), real: real)
        } catch {
            // The cache cannot be made (the file cannot be opened again or stat'ed): the open fails
            // rather than going on uncached under a name that promises the cache.
            _ = real.pointee.pMethods?.pointee.xClose(real)
            return SQLITE_CANTOPEN
        }
        file.withMemoryRebound(to: tmem_sqlite3_file.self, capacity: 1) { header in
            header.pointee.context = Unmanaged.passRetained(database).toOpaque()
            header.pointee.shm0 = nil
        }
        // Each open main file keeps the VFS (its cleancache, its registry) alive until it closes.
        _ = Unmanaged.passRetained(self)
        file.pointee.pMethods = UnsafePointer(databaseMethods)
        return SQLITE_OK
    }
}

/// What a ``TmemVFS``'s sqlite3_vfs points at (`pAppData`): the default VFS, and the TmemVFS while it
/// lives. Never freed (a few bytes per VFS ever registered): a SQLite connection keeps its VFS's
/// pointer for its whole life, also one whose only files are temporary, which hold no reference to
/// the TmemVFS.
final class VFSBox: @unchecked Sendable {
    let base: UnsafeMutablePointer<sqlite3_vfs>
    weak var vfs: TmemVFS?

    init(base: UnsafeMutablePointer<sqlite3_vfs>, vfs: TmemVFS) {
        self.base = base
        self.vfs = vfs
    }

    static func of(_ vfs: UnsafeMutablePointer<sqlite3_vfs>?) -> VFSBox {
        Unmanaged<VFSBox>.fromOpaque(vfs!.pointee.pAppData).takeUnretainedValue()
    }
}

/// The default VFS a ``TmemVFS``'s sqlite3_vfs wraps.
private func wrapped(_ vfs: UnsafeMutablePointer<sqlite3_vfs>?) -> UnsafeMutablePointer<sqlite3_vfs> { VFSBox.of(vfs).base }

/// The open main database file behind `file`, and the default VFS's file it wraps.
private func database(_ file: UnsafeMutablePointer<sqlite3_file>?) -> (DatabaseFile, UnsafeMutablePointer<sqlite3_file>) {
    let context = file!.withMemoryRebound(to: tmem_sqlite3_file.self, capacity: 1) { $0.pointee.context! }
    return (Unmanaged<DatabaseFile>.fromOpaque(context).takeUnretainedValue(), tmem_sqlite3_file_real(file)!)
}

/// The connection's wal-index region 0 (nil outside WAL mode).
private func shm0(_ file: UnsafeMutablePointer<sqlite3_file>?) -> UnsafeRawPointer? {
    file!.withMemoryRebound(to: tmem_sqlite3_file.self, capacity: 1) { $0.pointee.shm0 }
}

private func setShm0(_ file: UnsafeMutablePointer<sqlite3_file>?, _ region: UnsafeRawPointer?) {
    file!.withMemoryRebound(to: tmem_sqlite3_file.self, capacity: 1) { $0.pointee.shm0 = region }
}

private func real(_ file: UnsafeMutablePointer<sqlite3_file>?) -> (UnsafeMutablePointer<sqlite3_file>, sqlite3_io_methods) {
    let real = tmem_sqlite3_file_real(file)!
    return (real, real.pointee.pMethods.pointee)
}

/// The methods of a main database file. Version 2: shared memory (WAL) yes, memory-mapped reads
/// (xFetch, version 3) no, so every page read passes through xRead.
private nonisolated(unsafe) let databaseMethods: UnsafeMutablePointer<sqlite3_io_methods> = {
    let methods = UnsafeMutablePointer<sqlite3_io_methods>.allocate(capacity: 1)
    methods.initialize(to: sqlite3_io_methods())
    methods.pointee.iVersion = 2
    methods.pointee.xClose = { file in
        let (database, real) = database(file)
        let rc = real.pointee.pMethods?.pointee.xClose(real) ?? SQLITE_OK
        let vfs = database.vfs
        vfs.release(database)
        file!.withMemoryRebound(to: tmem_sqlite3_file.self, capacity: 1) { header in
            Unmanaged<DatabaseFile>.fromOpaque(header.pointee.context!).release()
            header.pointee.context = nil
            header.pointee.shm0 = nil
        }
        file!.pointee.pMethods = nil
        Unmanaged.passUnretained(vfs).release()
        return rc
    }
    methods.pointee.xRead = { file, buffer, amount, offset in
        database(file).0.read(buffer!, count: Int(amount), at: Int(offset), shm: shm0(file))
    }
    methods.pointee.xWrite = { file, data, amount, offset in
        let (database, real) = database(file)
        return database.write(real, data!, count: Int(amount), at: Int(offset))
    }
    methods.pointee.xTruncate = { file, size in
        let (database, real) = database(file)
        return database.truncate(real, to: Int(size))
    }
    methods.pointee.xSync = { file, flags in let (r, m) = real(file); return m.xSync(r, flags) }
    methods.pointee.xFileSize = { file, size in let (r, m) = real(file); return m.xFileSize(r, size) }
    methods.pointee.xLock = { file, level in
        let (database, real) = database(file)
        let rc = real.pointee.pMethods.pointee.xLock(real, level)
        if rc == SQLITE_OK && level == SQLITE_LOCK_SHARED { database.sharedLockTaken(real) }
        return rc
    }
    methods.pointee.xUnlock = { file, level in let (r, m) = real(file); return m.xUnlock(r, level) }
    methods.pointee.xCheckReservedLock = { file, out in let (r, m) = real(file); return m.xCheckReservedLock(r, out) }
    methods.pointee.xFileControl = { file, op, arg in let (r, m) = real(file); return m.xFileControl(r, op, arg) }
    methods.pointee.xSectorSize = { file in let (r, m) = real(file); return m.xSectorSize(r) }
    methods.pointee.xDeviceCharacteristics = { file in let (r, m) = real(file); return m.xDeviceCharacteristics(r) }
    methods.pointee.xShmMap = { file, region, size, extend, out in
        let (r, m) = real(file)
        let rc = m.xShmMap(r, region, size, extend, out)
        if rc == SQLITE_OK, region == 0, let mapped = out?.pointee { setShm0(file, UnsafeRawPointer(mapped)) }
        return rc
    }
    methods.pointee.xShmLock = { file, offset, n, flags in let (r, m) = real(file); return m.xShmLock(r, offset, n, flags) }
    methods.pointee.xShmBarrier = { file in let (r, m) = real(file); m.xShmBarrier(r) }
    methods.pointee.xShmUnmap = { file, delete in
        setShm0(file, nil)
        let (r, m) = real(file)
        return m.xShmUnmap(r, delete)
    }
    return methods
}()
