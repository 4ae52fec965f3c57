import Tmem

/// An error from `ZramDevice`: what failed (`code`), a readable `message`, the `errno` of the
/// failing system call when there was one, and where it was raised.
///
/// A struct rather than an enum so that new codes do not break callers (STYLE §4). Compare
/// `code` against the static members of `ZramError.Code`.
public struct ZramError: Error, CustomStringConvertible, Sendable {
    /// The kind of failure. Compare with `==` against the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case unavailable
            case unsupportedAlgorithm
            case notFresh
            case deviceNodeMissing
            case sysfs
            case io
            case outOfMemory
        }

        private var wrapped: Wrapped

        private init(_ wrapped: Wrapped) {
            self.wrapped = wrapped
        }

        /// zram cannot be used here (not root, no zram-control, read-only sysfs); see the message.
        public static var unavailable: Code { Code(.unavailable) }
        /// The kernel's zram does not offer the requested algorithm; the message lists those it offers.
        public static var unsupportedAlgorithm: Code { Code(.unsupportedAlgorithm) }
        /// The device `hot_add` returned was already configured by someone else; it was left alone.
        public static var notFresh: Code { Code(.notFresh) }
        /// `/dev/zramN` did not appear (no devtmpfs on /dev, as in some containers).
        public static var deviceNodeMissing: Code { Code(.deviceNodeMissing) }
        /// Reading or writing a sysfs attribute failed (`errno` says why; EBUSY: the device is open).
        public static var sysfs: Code { Code(.sysfs) }
        /// A read or write of the block device failed or was short.
        public static var io: Code { Code(.io) }
        /// An aligned buffer could not be allocated.
        public static var outOfMemory: Code { Code(.outOfMemory) }

        /// The code's name, e.g. `unsupportedAlgorithm`.
        public var description: String {
            switch wrapped {
            case .unavailable: "unavailable"
            case .unsupportedAlgorithm: "unsupportedAlgorithm"
            case .notFresh: "notFresh"
            case .deviceNodeMissing: "deviceNodeMissing"
            case .sysfs: "sysfs"
            case .io: "io"
            case .outOfMemory: "outOfMemory"
            }
        }
    }

    /// The kind of failure.
    public let code: Code
    /// What happened, in words (paths, values, what the kernel offers).
    public let message: String
    /// The `errno` of the failing system call, or `nil` if no system call failed.
    public let errno: Errno?
    /// The source file (`#fileID`) that raised the error.
    public let file: String
    /// The source line that raised the error.
    public let line: Int

    /// Creates an error; the location defaults to the caller's.
    ///
    /// - Parameters:
    ///   - code: The kind of failure.
    ///   - message: What happened, in words.
    ///   - errno: The failing call's `errno`, if any.
    ///   - file: The raising file; leave the default.
    ///   - line: The raising line; leave the default.
    public init(_ code: Code, _ message: String, errno: Errno? = nil, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.errno = errno
        self.file = file
        self.line = line
    }

    /// `code: message (errno N) (file:line)`.
    public var description: String {
        let cause = errno.map { " (errno \($0.rawValue))" } ?? ""
        return "\(code): \(message)\(cause) (\(file):\(line))"
    }
}

/// Whether this process can create its own zram devices.
public enum ZramAvailability: Equatable, Sendable {
    /// Root, `/sys/class/zram-control` present and writable.
    case available
    /// zram cannot be used here; `reason` says why, in words fit for a skipped test or a CLI message.
    case unavailable(reason: String)
}
