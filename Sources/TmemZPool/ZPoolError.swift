/// An error creating a ``ZPool``: the only failures the allocator reports by throwing.
///
/// Running out of arena or asking for an impossible size is not an error: ``ZPool/allocate(size:)`` returns
/// `nil` and the caller refuses the store. Misuse such as a double free traps instead.
///
/// The kind of failure is a private code so new kinds do not break the API; read ``message`` and ``errno``.
public struct ZPoolError: Error, CustomStringConvertible, Sendable {
    private enum Code: Sendable {
        /// ``ZPool/Configuration`` holds an unusable value.
        case invalidConfiguration
        /// The OS page size is not the 4 KiB the span geometry is computed for.
        case unsupportedPageSize
        /// `mmap` refused to reserve the arena or the descriptor array.
        case reservationFailed
    }

    private let code: Code

    /// What went wrong, in words, including the offending value.
    public let message: String

    /// The `errno` the failing system call set, if a system call failed.
    public let errno: Int32?

    private init(_ code: Code, _ message: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    /// A rendering for logs, such as `ZPoolError.reservationFailed: mmap of 68719476736 bytes … (errno 12)`.
    public var description: String {
        let suffix = errno.map { " (errno \($0))" } ?? ""
        return "ZPoolError.\(code): \(message)\(suffix)"
    }

    static func invalidConfiguration(_ message: String) -> ZPoolError {
        ZPoolError(.invalidConfiguration, message)
    }

    static func unsupportedPageSize(_ pageSize: Int) -> ZPoolError {
        ZPoolError(.unsupportedPageSize, "the OS page size is \(pageSize) bytes; ZPool requires 4096")
    }

    static func reservationFailed(_ what: String, bytes: Int, errno: Int32) -> ZPoolError {
        ZPoolError(.reservationFailed, "mmap of \(bytes) bytes for the \(what) failed", errno: errno)
    }
}
