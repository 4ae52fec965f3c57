#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Tmem

/// An error from the paging layer: a region that could not be set up, or a setting out of range.
///
/// Faults are never reported this way: a fault that cannot be served (a page frontswap lost, a swap file
/// that fails on read) ends the process, as the kernel's SIGBUS does for a failed swap-in. A struct with a
/// private code, so that new kinds of failure do not break the API (STYLE §4).
public struct PagingError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case notPermitted, unsupported, systemCall, invalidArgument, swapFile, frontswap, trace
    }

    private let code: Code
    /// One line for people: what failed, why, and what to change when something can be changed.
    public let message: String
    /// The `errno` of the failing system call, or nil when the failure was not a system call's.
    public let errno: Errno?

    private init(_ code: Code, _ message: String, errno: Errno? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    /// True when the kernel refused userfaultfd for lack of privilege; ``message`` says what to change.
    public var isNotPermitted: Bool { code == .notPermitted }
    /// True when this kernel lacks something the region needs (userfaultfd itself, or a mode of it).
    public var isUnsupported: Bool { code == .unsupported }
    /// True when a size, budget or option was out of range.
    public var isInvalidArgument: Bool { code == .invalidArgument }

    public var description: String { message }

    static func notPermitted(_ message: String) -> Self { .init(.notPermitted, message, errno: .notPermitted) }
    static func unsupported(_ message: String, _ errno: Errno) -> Self {
        .init(.unsupported, "\(message): \(errno)", errno: errno)
    }
    static func systemCall(_ call: String, _ errno: Errno) -> Self {
        .init(.systemCall, "\(call) failed: \(errno)", errno: errno)
    }
    static func invalidArgument(_ message: String) -> Self { .init(.invalidArgument, message, errno: .invalidArgument) }
    static func swapFile(_ message: String, errno: Errno) -> Self { .init(.swapFile, message, errno: errno) }
    static func frontswap(_ message: String) -> Self { .init(.frontswap, message) }
    static func trace(_ message: String, _ errno: Errno) -> Self {
        .init(.trace, "\(message): \(errno)", errno: errno)
    }
}
