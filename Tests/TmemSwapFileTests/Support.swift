#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Tmem
import TmemSwapFile

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
