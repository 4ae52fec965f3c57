#if canImport(Glibc)
import Glibc
#endif
import Tmem

/// Reads and writes sysfs attributes, and wraps the few system calls `ZramDevice` makes.
///
/// sysfs attributes are read whole in one `read` (they are at most a page) and written whole in
/// one `write`, as `cat` and `echo` do; the kernel's store handler sees exactly our bytes and
/// returns its verdict (EINVAL, EBUSY, ...) as the write's errno.
enum Sysfs {
    /// `/sys/class/zram-control`, where zram devices are added and removed.
    static let control = "/sys/class/zram-control"

    /// `/sys/block/zramN`, a device's attribute directory.
    static func block(_ number: Int) -> String {
        "/sys/block/zram\(number)"
    }

    /// Reads a whole attribute as text.
    static func read(_ path: String) throws(ZramError) -> String {
        let fd = try valueOrErrno { open(path, O_RDONLY | O_CLOEXEC) }
            .mapError { ZramError(.sysfs, "cannot open \(path) for reading", errno: $0) }.get()
        defer { _ = close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = try buffer.withUnsafeMutableBytes { bytes in
            valueOrErrno { Glibc.read(fd, bytes.baseAddress, bytes.count) }
        }.mapError { ZramError(.sysfs, "cannot read \(path)", errno: $0) }.get()
        return String(decoding: buffer.prefix(count), as: UTF8.self)
    }

    /// Reads an attribute that holds one decimal number.
    static func readInt(_ path: String) throws(ZramError) -> Int {
        let text = try read(path)
        guard let value = Int(trimmed(text)) else {
            throw ZramError(.sysfs, "\(path) does not hold a number: \(trimmed(text).debugDescription)")
        }
        return value
    }

    /// Writes `value` to an attribute in one `write`, as `echo value > path` does.
    static func write(_ value: String, to path: String) throws(ZramError) {
        let fd = try valueOrErrno { open(path, O_WRONLY | O_CLOEXEC) }
            .mapError { ZramError(.sysfs, "cannot open \(path) for writing", errno: $0) }.get()
        defer { _ = close(fd) }
        var bytes = Array(value.utf8)
        bytes.append(0x0A)
        let written = bytes.withUnsafeBytes { raw in
            valueOrErrno { Glibc.write(fd, raw.baseAddress, raw.count) }
        }
        guard case .success(bytes.count) = written else {
            throw ZramError(.sysfs, "writing \(value.debugDescription) to \(path) failed", errno: written.error)
        }
    }

    /// Whether `path` exists.
    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// `text` without leading and trailing white space.
    static func trimmed(_ text: String) -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" }
        guard let first = text.firstIndex(where: { !isSpace($0) }), let last = text.lastIndex(where: { !isSpace($0) })
        else {
            return ""
        }
        return text[first...last]
    }

    /// Sleeps `milliseconds`; used only between retries of a removal the kernel refused with EBUSY.
    static func pause(milliseconds: Int) {
        var request = timespec(tv_sec: 0, tv_nsec: milliseconds * 1_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && Errno.current == .interrupted {
            request = remaining
        }
    }
}

/// `O_DIRECT`, which Swift's Glibc module does not export (it is behind `_GNU_SOURCE` in fcntl.h).
/// The value differs between architectures (asm-generic vs arm64's and powerpc's fcntl.h).
#if arch(x86_64) || arch(i386) || arch(s390x)
let directIOFlag: Int32 = 0o40000
#elseif arch(arm64) || arch(arm)
let directIOFlag: Int32 = 0o200000
#elseif arch(powerpc64) || arch(powerpc64le)
let directIOFlag: Int32 = 0o400000
#else
#error("O_DIRECT value unknown for this architecture: add it from the kernel's asm/fcntl.h")
#endif
import Tmem

extension Result where Success == Int, Failure == Errno {
    /// The count a transfer returned, or -1 when it failed (for messages that quote the call's value).
    var count: Int {
        switch self {
        case .success(let n): n
        case .failure: -1
        }
    }

    /// The `errno` of a failed call, or nil when the call returned (a short transfer is no system error).
    var error: Errno? {
        switch self {
        case .success: nil
        case .failure(let code): code
        }
    }
}
