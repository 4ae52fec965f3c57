#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Tmem
import TmemSwapFile


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

