#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The monotonic clock in nanoseconds (`CLOCK_MONOTONIC`, a vDSO call of about 20 ns): the one clock
/// every layer stamps and times with (Zcache's store order, fault latency, benchmarks).
///
/// - Returns: Nanoseconds since an arbitrary fixed point; never goes backwards.
@inline(__always)
public func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// An environment variable's value, if it is set.
///
/// - Parameter name: The variable, such as `TMPDIR`.
/// - Returns: Its value, or nil.
public func environmentValue(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    return String(cString: value)
}

/// The system's words for an `errno` value (`strerror`), for error messages.
///
/// - Parameter code: An `errno` value.
/// - Returns: Such as "No space left on device", or "errno N" for a value the C library does not know.
public func describeErrno(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "errno \(code)" }
    return String(cString: text)
}

#if arch(arm64) || arch(arm)
/// `O_DIRECT`, which Glibc's module map hides without `_GNU_SOURCE` (values from the kernel's
/// `asm-generic/fcntl.h` and the arm64 override).
public let openDirectFlag: Int32 = 0o200000
#else
/// `O_DIRECT`, which Glibc's module map hides without `_GNU_SOURCE` (the kernel's `asm-generic/fcntl.h`).
public let openDirectFlag: Int32 = 0o40000
#endif
