#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Tmem

#if arch(arm64) || arch(arm)
/// `O_TMPFILE` (`__O_TMPFILE | O_DIRECTORY`), which Glibc hides without `_GNU_SOURCE`; arm64 moves `O_DIRECTORY`.
let openTemporaryFlag: Int32 = 0o20000000 | 0o40000
#else
/// `O_TMPFILE` (`__O_TMPFILE | O_DIRECTORY`), which Glibc hides without `_GNU_SOURCE`.
let openTemporaryFlag: Int32 = 0o20000000 | 0o200000
#endif

/// The few system calls the swap file needs beyond open/pread/pwrite, each returning `Result<_, Errno>`.
enum FileSystemCalls {
    /// What a path or descriptor is, from `st_mode`.
    enum Kind: Equatable {
        case regular, blockDevice, directory, characterDevice, fifo, socket, other

        init(mode: mode_t) {
            switch mode & S_IFMT {
            case S_IFREG: self = .regular
            case S_IFBLK: self = .blockDevice
            case S_IFDIR: self = .directory
            case S_IFCHR: self = .characterDevice
            case S_IFIFO: self = .fifo
            case S_IFSOCK: self = .socket
            default: self = .other
            }
        }

        /// "a character device", for messages.
        var phrase: String {
            switch self {
            case .regular: "a regular file"
            case .blockDevice: "a block device"
            case .directory: "a directory"
            case .characterDevice: "a character device"
            case .fifo: "a named pipe"
            case .socket: "a socket"
            case .other: "not a file"
            }
        }

        /// The errno a refusal of this kind carries: `EISDIR` for a directory, `ENOTBLK` ("block device
        /// required", as swapon says) for the rest.
        var refusalErrno: Errno { self == .directory ? Errno(EISDIR) : Errno(ENOTBLK) }
    }

    static func status(path: String) -> Result<stat, Errno> {
        var info = stat()
        return valueOrErrno { stat(path, &info) }.map { _ in info }
    }

    static func status(fd: Int32) -> Result<stat, Errno> {
        var info = stat()
        return valueOrErrno { fstat(fd, &info) }.map { _ in info }
    }

    /// `flock(fd, LOCK_EX | LOCK_NB)`: `EWOULDBLOCK` when another open file description holds it.
    static func lockExclusively(_ fd: Int32) -> Result<Void, Errno> {
        valueOrErrno { flock(fd, LOCK_EX | LOCK_NB) }.map { _ in () }
    }

    /// `ioctl(fd, BLKGETSIZE64)`: a block device's size in bytes.
    static func blockDeviceSize(_ fd: Int32) -> Result<UInt64, Errno> {
        // _IOR(0x12, 114, size_t): the same number on every 64-bit Linux architecture we build for.
        let blockGetSize64: UInt = 0x8008_1272
        var size: UInt64 = 0
        return valueOrErrno { ioctl(fd, blockGetSize64, &size) }.map { _ in size }
    }

    /// Bytes an unprivileged writer may still allocate on the file system holding `path`
    /// (`f_bavail * f_frsize`).
    static func availableBytes(onFileSystemOf path: String) -> Result<UInt64, Errno> {
        var info = statvfs()
        return valueOrErrno { statvfs(path, &info) }.map { _ in
            let (bytes, overflow) = UInt64(info.f_bavail).multipliedReportingOverflow(by: UInt64(info.f_frsize))
            return overflow ? .max : bytes
        }
    }

    // Glibc's module map leaves out <sys/xattr.h>, so the two calls are looked up in libc itself and called
    // with the C convention (RTLD_DEFAULT is a null handle in glibc).
    private typealias SetAttribute = @convention(c) (
        Int32, UnsafePointer<CChar>, UnsafeRawPointer?, Int, Int32
    ) -> Int32
    private typealias GetAttribute = @convention(c) (Int32, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int
    private static let setAttribute: SetAttribute? =
        dlsym(nil, "fsetxattr").map { unsafeBitCast($0, to: SetAttribute.self) }
    private static let getAttribute: GetAttribute? =
        dlsym(nil, "fgetxattr").map { unsafeBitCast($0, to: GetAttribute.self) }

    /// Sets an extended attribute to `value`; `ENOTSUP` where the file system keeps none.
    static func setAttribute(_ fd: Int32, _ name: String, _ value: String) -> Result<Void, Errno> {
        guard let setAttribute else { return .failure(.notSupported) }
        var value = value
        return value.withUTF8 { bytes in
            valueOrErrno { setAttribute(fd, name, bytes.baseAddress, bytes.count, 0) }.map { _ in () }
        }
    }

    /// Whether the file carries the extended attribute `name` (any value).
    static func hasAttribute(_ fd: Int32, _ name: String) -> Bool {
        guard let getAttribute else { return false }
        return getAttribute(fd, name, nil, 0) >= 0
    }
}
