#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Tmem
import TmemSwapFile

/// The names in a directory, without `.` and `..`: for tests that check nothing was left behind.
///
/// - Throws: `Errno` when the directory cannot be opened.
public func directoryEntries(_ path: String) throws -> [String] {
    guard let dir = opendir(path) else { throw Errno.current }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

extension TemporaryDirectory {
    /// Whether files in a test directory keep `user.*` extended attributes (the swap file's mark), so
    /// tests of the mark can say why they did not run where they cannot.
    public static let keepsUserAttributes: Bool = {
        let dir = TemporaryDirectory()
        let path = dir.file("probe")
        guard (try? SwapFile(path: path, slots: 1)) != nil else { return false }
        // Glibc's module map leaves out <sys/xattr.h>: look getxattr up in libc.
        typealias GetAttribute = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int
        guard let symbol = dlsym(nil, "getxattr") else { return false }
        return unsafeBitCast(symbol, to: GetAttribute.self)(path, SwapFile.markAttribute, nil, 0) >= 0
    }()
}
