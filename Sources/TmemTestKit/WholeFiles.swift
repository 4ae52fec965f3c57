#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Tmem

/// Writes `bytes` to a new file (mode 0600) at `path`, replacing one that is there.
///
/// - Throws: `Errno` of the failing `open` or `write`.
public func writeWholeFile(_ path: String, _ bytes: [UInt8]) throws {
    let fd = try valueOrErrno { open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600) }.get()
    defer { close(fd) }
    var done = 0
    while done < bytes.count {
        done += try bytes.withUnsafeBytes { raw in valueOrErrno { write(fd, raw.baseAddress! + done, raw.count - done) } }.get()
    }
}

/// Every byte of the file at `path`.
///
/// - Throws: `Errno` of the failing `open` or `read`.
public func readWholeFile(_ path: String) throws -> [UInt8] {
    let fd = try valueOrErrno { open(path, O_RDONLY | O_CLOEXEC) }.get()
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = try chunk.withUnsafeMutableBytes { raw in valueOrErrno { read(fd, raw.baseAddress!, raw.count) } }.get()
        if n == 0 { break }
        bytes += chunk[..<n]
    }
    return bytes
}
