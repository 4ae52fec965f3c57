import Tmem

/// An error of the replay tool as a whole (not of one trace line, which prints `error ...` and goes on):
/// an input that cannot be read at all, a limit it passes, a configuration that cannot be built, or a
/// swap file that cannot be set up. The tool stops with a message on standard error and a non-zero exit.
public struct ReplayError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: Hashable, Sendable { case input, limit, configuration, swapFile }
    private let code: Code
    /// One line for people.
    public let message: String
    /// The `errno` behind it, when a system call's failure is (a swap file's: `EEXIST` for a file of
    /// someone else's, `EBUSY` for one in use).
    public let errno: Errno?

    private init(_ code: Code, _ message: String, errno: Errno? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    /// An input (corpus, trace) could not be read.
    public static func input(_ message: String) -> ReplayError { .init(.input, message) }
    /// An input is larger than the limit set for it (the corpus size limit).
    public static func limit(_ message: String) -> ReplayError { .init(.limit, message) }
    /// The backend or swap configuration is not valid.
    public static func configuration(_ message: String) -> ReplayError { .init(.configuration, message) }
    /// A swap file could not be opened, created, locked or sized, or is one the replay must not write
    /// (the corpus itself, a file of someone else's).
    ///
    /// - Parameters:
    ///   - message: What failed and why.
    ///   - errno: The failing call's errno, if any.
    public static func swapFile(_ message: String, errno: Errno? = nil) -> ReplayError {
        .init(.swapFile, message, errno: errno)
    }

    /// Whether this is an input over its size limit (which the user may raise).
    public var isLimit: Bool { code == .limit }
    /// Whether this is a swap file that could not be set up.
    public var isSwapFile: Bool { code == .swapFile }

    public var description: String { message }
}
