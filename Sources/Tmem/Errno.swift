#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A system call's error number, read right after the call failed: the one typed `errno` of the package
/// (STYLE §4), carried by every error that a failing system call caused (``BackingDeviceError``, the
/// paging layer's and zram's errors).
///
/// Read it with ``current`` immediately after the failing call, before anything else (an allocation, a
/// `print`) can overwrite the thread's `errno`; or let ``valueOrErrno(retryOnInterrupt:_:)`` do it.
/// Mirrors swift-system's `Errno`, of which it keeps only what this package uses.
public struct Errno: Error, RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The C `errno` value, such as 28 for `ENOSPC`.
    public let rawValue: Int32

    /// Wraps an `errno` value.
    ///
    /// - Parameter rawValue: The C value; any `Int32` is accepted (unknown ones describe as "errno N").
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// Wraps an `errno` value.
    ///
    /// - Parameter rawValue: The C value.
    public init(_ rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's `errno`, now.
    public static var current: Errno { Errno(errno) }

    /// The system's words and the number, such as "No space left on device (errno 28)".
    public var description: String { "\(describeErrno(rawValue)) (errno \(rawValue))" }

    /// `EPERM`: the operation is not permitted to this process.
    public static var notPermitted: Errno { Errno(EPERM) }
    /// `EINTR`: a signal interrupted the call before it did anything; restartable calls are retried.
    public static var interrupted: Errno { Errno(EINTR) }
    /// `EIO`: the device reported an input/output error.
    public static var io: Errno { Errno(EIO) }
    /// `EAGAIN`: nothing to do now on a non-blocking descriptor.
    public static var again: Errno { Errno(EAGAIN) }
    /// `EBUSY`: the resource is in use (a zram device that is still open).
    public static var busy: Errno { Errno(EBUSY) }
    /// `EINVAL`: an argument was out of range.
    public static var invalidArgument: Errno { Errno(EINVAL) }
    /// `ENOSPC`: no space left on the device.
    public static var noSpace: Errno { Errno(ENOSPC) }
    /// `ENOTSUP`: the operation is not supported here.
    public static var notSupported: Errno { Errno(ENOTSUP) }
}

/// Runs a system call that returns `-1` and sets `errno` on failure, and turns the outcome into a
/// `Result`, reading `errno` right after the call. Mirrors swift-system's internal
/// `valueOrErrno(retryOnInterrupt:_:)`.
///
/// - Parameters:
///   - retryOnInterrupt: Call again while the call fails with `EINTR` (true for restartable calls).
///   - call: The system call; it must set `errno` whenever it returns `-1`.
/// - Returns: The call's value when it is not `-1`, else the `errno` it left.
/// - Complexity: One call, plus one per `EINTR` retried; no allocation.
@inline(__always)
public func valueOrErrno<T: FixedWidthInteger>(retryOnInterrupt: Bool = true, _ call: () -> T) -> Result<T, Errno> {
    while true {
        let value = call()
        if value != -1 { return .success(value) }
        let code = Errno.current
        if retryOnInterrupt && code == .interrupted { continue }
        return .failure(code)
    }
}
