#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Tmem
import TmemSwapFile

/// A tmpfs of a few pages mounted on a fresh directory (root only): a real file system that fills up.
final class SmallFileSystem {
    let directory = TemporaryDirectory(prefix: "tmem-test-tmpfs")

    /// Mounts it; nil if the mount is refused (not root, no tmpfs).
    init?(bytes: Int) {
        guard mount("tmpfs", directory.path, "tmpfs", 0, "size=\(bytes)") == 0 else { return nil }
    }

    /// Writes a filler file until the file system says it is full.
    func fill() {
        let fd = open(directory.file("filler"), O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        precondition(fd >= 0, "cannot create the filler file")
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0x55, count: 4096)
        while chunk.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) > 0 {}
    }

    /// Detaches the mount (lazily: files still open on it keep it until they close).
    func unmount() { umount2(directory.path, Int32(MNT_DETACH)) }
}

extension TemporaryDirectory {
    /// Whether files in a test directory keep `user.*` extended attributes (the swap file's mark).
    static let keepsUserAttributes: Bool = {
        let dir = TemporaryDirectory()
        let path = dir.file("probe")
        guard (try? SwapFile(path: path, slots: 1)) != nil else { return false }
        // Glibc's module map leaves out <sys/xattr.h>: look getxattr up in libc.
        typealias GetAttribute = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int
        guard let symbol = dlsym(nil, "getxattr") else { return false }
        return unsafeBitCast(symbol, to: GetAttribute.self)(path, SwapFile.markAttribute, nil, 0) >= 0
    }()
}

/// Writes `bytes` to a new file at `path`.
func write(_ bytes: [UInt8], to path: String) throws {
    let fd = try valueOrErrno { open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600) }.get()
    defer { close(fd) }
    _ = try bytes.withUnsafeBytes { raw in valueOrErrno { write(fd, raw.baseAddress, raw.count) } }.get()
}

/// The bytes of the file at `path`.
func contents(of path: String) throws -> [UInt8] {
    let fd = try valueOrErrno { open(path, O_RDONLY | O_CLOEXEC) }.get()
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: 1 << 16)
    let n = try bytes.withUnsafeMutableBytes { raw in valueOrErrno { read(fd, raw.baseAddress, raw.count) } }.get()
    return Array(bytes[..<n])
}

/// The names in a directory, without `.` and `..`.
func entries(of path: String) throws -> [String] {
    guard let dir = opendir(path) else { throw Errno.current }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}
