#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Tmem

/// What tells one life of a file from another, and a changed file from an unchanged one, as `fstat`
/// sees it: its device and inode, size, and modification and status-change times (nanoseconds). A file
/// replaced by another with the same inode number, or written behind the cache's back, differs in at
/// least one.
public struct FileIdentity: Hashable, Sendable, CustomStringConvertible {
    public var device: UInt64
    public var inode: UInt64
    public var size: Int64
    public var modified: Int64
    public var changed: Int64

    public init(device: UInt64 = 0, inode: UInt64, size: Int64, modified: Int64, changed: Int64) {
        self.device = device
        self.inode = inode
        self.size = size
        self.modified = modified
        self.changed = changed
    }

    /// The identity of the open file `fd`.
    ///
    /// - Throws: ``TmemError`` naming `fstat`'s failure.
    public init(descriptor fd: Int32) throws(TmemError) {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .unavailable("cannot fstat the file: \(Errno.current)") }
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        size = Int64(st.st_size)
        modified = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        changed = Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
    }

    /// The file's key in a cleancache pool: its inode, with its device in the top 24 bits, so that two
    /// files of one pool on different file systems (one VFS caching databases in /tmp and /var/tmp) never
    /// share keys. Exact for inode numbers below 2^40 and device numbers below 2^24 (every Linux file
    /// system's in practice); beyond, two files may share a key, and their identities (recorded per key)
    /// then invalidate each other's pages rather than mix them.
    public var fileKey: UInt64 { (device & 0xFF_FFFF) << 40 | (inode & (1 << 40 - 1)) }

    public var description: String { "device \(device), inode \(inode), \(size) bytes, mtime \(modified) ns, ctime \(changed) ns" }
}

extension Cleancache {
    /// Checks a file against what was recorded when its pages were cached: when its size or times
    /// differ, every cached page of it is invalidated. Records `identity` as the file's from now on.
    /// Call it on opening a file and whenever it may have changed behind the caller's back.
    ///
    /// - Returns: false when the file had changed (its pages are gone), true otherwise.
    @discardableResult
    public func revalidate(_ pool: FSPool, identity: FileIdentity) -> Bool {
        let key = FileKey(pool: pool, file: identity.fileKey)
        let unchanged = identities.withLock { table -> Bool in
            guard let previous = table[key], previous != identity else {
                table[key] = identity
                return true
            }
            return false
        }
        guard !unchanged else { return true }
        // Invalidated before the new identity is recorded: another opener that sees it recorded finds
        // no old page left.
        invalidateFile(pool, file: identity.fileKey)
        identities.withLock { $0[key] = identity }
        return false
    }

    /// Records `identity` as the file's without checking it: after the caller's own write, which it
    /// invalidated page by page, so that the write's new times do not drop the whole file.
    public func record(_ pool: FSPool, identity: FileIdentity) {
        identities.withLock { $0[FileKey(pool: pool, file: identity.fileKey)] = identity }
    }
}
