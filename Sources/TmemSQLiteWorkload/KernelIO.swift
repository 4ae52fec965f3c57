#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Tmem

/// What the kernel says about processes, their disk reads and a file's pages in its page cache: how
/// the SQLite workloads count disk reads avoided, whichever VFS did the reading, and how the tools read
/// /proc.
public enum KernelIO {
    /// The number in the line of a /proc file (`/proc/self/io`, `/proc/PID/status`, `/proc/meminfo`)
    /// that starts with `key` (its colon included, e.g. `"VmRSS:"`), times 1024 when the line says
    /// `kB`; nil when the file or the line is missing.
    public static func field(_ path: String, _ key: String) -> Int? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            guard text.hasPrefix(key) else { continue }
            let rest = text.dropFirst(key.count)
            guard let value = Int(rest.filter(\.isNumber)) else { return nil }
            return rest.contains("kB") ? value * 1024 : value
        }
        return nil
    }

    /// This process's `read_bytes` of /proc/self/io: bytes it caused to be read from storage (page-cache
    /// misses and `O_DIRECT` reads alike), or nil when the kernel does not account I/O.
    public static func readBytes() -> Int? { field("/proc/self/io", "read_bytes:") }

    /// A process's resident set size (`VmRSS` of /proc/PID/status, or of this process), or nil.
    public static func residentBytes(of pid: Int32? = nil) -> Int? {
        field("/proc/\(pid.map(String.init) ?? "self")/status", "VmRSS:")
    }

    /// The size of `path` in bytes (0 when it cannot be stat'ed).
    public static func fileBytes(_ path: String) -> Int {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : 0
    }

    /// Bytes of `path` now in the kernel's page cache (mincore over a mapping of it), or nil.
    public static func residentBytes(_ path: String) -> Int? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        let size = Int(st.st_size)
        guard size > 0 else { return 0 }
        guard let map = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), map != MAP_FAILED else { return nil }
        defer { munmap(map, size) }
        let pages = (size + pageSize - 1) / pageSize
        var vector = [UInt8](repeating: 0, count: pages)
        guard mincore(map, size, &vector) == 0 else { return nil }
        return vector.reduce(0) { $0 + Int($1 & 1) } * pageSize
    }

    /// Writes `path`'s dirty pages and drops its clean ones from the kernel's page cache, so the next
    /// reads come from the disk.
    ///
    /// - Throws: ``TmemError`` when the file cannot be opened or synced.
    public static func dropPageCache(_ path: String) throws(TmemError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .unavailable("cannot open \(path): \(Errno.current)") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw .unavailable("cannot sync \(path): \(Errno.current)") }
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
    }
}
