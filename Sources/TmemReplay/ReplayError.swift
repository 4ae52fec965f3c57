/// An error of the replay tool as a whole (not of one trace line, which prints `error ...` and goes on):
/// an input that cannot be read at all, or a configuration that cannot be built.
public struct ReplayError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: Hashable, Sendable { case input, configuration }
    private let code: Code
    /// One line for people.
    public let message: String

    private init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// An input (corpus, trace) could not be read.
    public static func input(_ message: String) -> ReplayError { .init(.input, message) }
    /// The backend or swap configuration is not valid.
    public static func configuration(_ message: String) -> ReplayError { .init(.configuration, message) }

    public var description: String { message }
}
