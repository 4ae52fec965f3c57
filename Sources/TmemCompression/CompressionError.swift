/// An error from `PageCompressor` or `Zstd`: what went wrong (`code`), a readable `message`
/// (including the C library's own error name where there is one), and where it was raised.
///
/// A struct rather than an enum so that new codes do not break callers that switch on them
/// (STYLE §4). Compare `code` against the static members of `CompressionError.Code`.
///
/// A compressed page that does not fit its destination is *not* an error: `compress` returns
/// `nil` for it, because a refusal is an ordinary outcome on the store path.
public struct CompressionError: Error, CustomStringConvertible, Sendable {
    /// The kind of failure. Compare with `==` against the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case invalidLevel
            case outOfMemory
            case corruptData
            case sizeMismatch
            case inputTooLarge
        }

        private var wrapped: Wrapped

        private init(_ wrapped: Wrapped) {
            self.wrapped = wrapped
        }

        /// The requested level is outside what the algorithm accepts (or a level was given to `none`).
        public static var invalidLevel: Code { Code(.invalidLevel) }
        /// The C library could not allocate a context.
        public static var outOfMemory: Code { Code(.outOfMemory) }
        /// The compressed input is malformed or truncated, or is not data of this algorithm.
        public static var corruptData: Code { Code(.corruptData) }
        /// The input decodes, but not to exactly the number of bytes the caller expects.
        public static var sizeMismatch: Code { Code(.sizeMismatch) }
        /// The input is larger than the C API can take (LZ4 sizes are 32-bit).
        public static var inputTooLarge: Code { Code(.inputTooLarge) }

        /// The code's name, e.g. `corruptData`.
        public var description: String {
            switch wrapped {
            case .invalidLevel: "invalidLevel"
            case .outOfMemory: "outOfMemory"
            case .corruptData: "corruptData"
            case .sizeMismatch: "sizeMismatch"
            case .inputTooLarge: "inputTooLarge"
            }
        }
    }

    /// The kind of failure.
    public let code: Code
    /// What happened, in words, with the library's error name when it gave one.
    public let message: String
    /// The source file (`#fileID`) that raised the error.
    public let file: String
    /// The source line that raised the error.
    public let line: Int

    /// Creates an error; the location defaults to the caller's.
    ///
    /// - Parameters:
    ///   - code: The kind of failure.
    ///   - message: What happened, in words.
    ///   - file: The raising file; leave the default.
    ///   - line: The raising line; leave the default.
    public init(_ code: Code, _ message: String, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    /// `code: message (file:line)`.
    public var description: String {
        "\(code): \(message) (\(file):\(line))"
    }
}
