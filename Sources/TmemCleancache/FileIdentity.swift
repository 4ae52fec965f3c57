#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Tmem

/// What tells one life of a file from another, and a changed file from an unchanged one, as `fstat`
/// sees it: its inode, size, and modification and status-change times (nanoseconds). A file replaced
/// by another with the same inode number, or written behind the cache's back, differs in at least one.
public struct FileIdentity: Hashable, Sendable, CustomStringConvertible {
    public var inode: UInt64
    public var size: Int64
    public var modified: Int64
    public var changed: Int64

    public init(inode: UInt64, size: Int64, modified: Int64, changed: Int64) {
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
        inode = UInt64(st.st_ino)
        size = Int64(st.st_size)
        modified = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        changed = Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
    }

    public var description: String { "inode \(inode), \(size) bytes, mtime \(modified) ns, ctime \(changed) ns" }
}

extension Cleancache {
    /// Checks a file against what was recorded when its pages were cached: when its size or times
    /// differ, every cached page of it is invalidated. Records `identity` as the file's from now on.
    /// Call it on opening a file and whenever it may have changed behind the caller's back.
    ///
    /// - Returns: false when the file had changed (its pages are gone), true otherwise.
    @discardableResult
    public func revalidate(_ pool: FSPool, identity: FileIdentity) -> Bool {
        let key = FileKey(pool: pool, file: identity.inode)
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
        invalidateFile(pool, file: identity.inode)
        identities.withLock { $0[key] = identity }
        return false
    }

    /// Records `identity` as the file's without checking it: after the caller's own write, which it
    /// invalidated page by page, so that the write's new times do not drop the whole file.
    public func record(_ pool: FSPool, identity: FileIdentity) {
        identities.withLock { $0[FileKey(pool: pool, file: identity.inode)] = identity }
    }
}
