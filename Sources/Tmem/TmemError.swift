/// An error from a tmem backend: not a refusal (that is a ``PutResult``), but something that went wrong,
/// such as a damaged page or a pool table that is full.
///
/// A struct with a private code so that new kinds of failure do not break the API (STYLE §4).
public struct TmemError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case tooManyPools
        case corruptPage
        case invalidArgument
        case unavailable
    }

    private let code: Code
    /// A one-line explanation for people.
    public let message: String

    private init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The backend has no room for another pool.
    public static func tooManyPools(_ message: String) -> TmemError { TmemError(.tooManyPools, message) }
    /// A stored page failed its integrity check (for example, it no longer decompresses).
    public static func corruptPage(_ message: String) -> TmemError { TmemError(.corruptPage, message) }
    /// A configuration value or argument is out of range.
    public static func invalidArgument(_ message: String) -> TmemError { TmemError(.invalidArgument, message) }
    /// The backend cannot be reached or used.
    public static func unavailable(_ message: String) -> TmemError { TmemError(.unavailable, message) }

    /// True for a damaged stored page.
    public var isCorruptPage: Bool { code == .corruptPage }

    public var description: String { message }
}
