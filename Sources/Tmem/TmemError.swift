/// An error from a tmem backend: not a refusal (that is a ``PutResult``), but something that went wrong.
///
/// Every error falls in one class, which tells a frontend what to do with the slot or page it was
/// working on (SEMANTICS.md: a stored page must come back, never stale, and loss is reported, never
/// hidden):
///
/// | class | predicate | meaning | frontend's answer |
/// |---|---|---|---|
/// | damaged | ``isDamaged`` | the backend's copy failed its integrity check | drop the copy, count it, report the loss |
/// | retryable | ``isRetryable`` | the backend cannot answer now (timeout, host unreachable) | keep its record of the page; try again later |
/// | lost | ``isLost`` | the backend says the copy is gone (a host restarted) | forget the page, report the loss |
/// | misuse | ``isInvalidArgument`` | an argument or configuration was out of range | none: fix the caller |
/// | exhausted | ``isTooManyPools`` | no room for another pool | fall back (frontswap: the backing device alone) |
///
/// A struct with a private code so that new kinds of failure do not break the API (STYLE §4).
public struct TmemError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case tooManyPools
        case damaged
        case invalidArgument
        case unavailable
        case lost
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
    /// A stored page failed its integrity check (a checksum, or it no longer decompresses): the damaged
    /// bytes are never returned as a page.
    public static func corruptPage(_ message: String) -> TmemError { TmemError(.damaged, message) }
    /// A configuration value or argument is out of range.
    public static func invalidArgument(_ message: String) -> TmemError { TmemError(.invalidArgument, message) }
    /// The backend cannot be reached or used now (a timeout, a host that does not answer); it may still
    /// hold its pages, so the caller keeps its record of them and may retry.
    public static func unavailable(_ message: String) -> TmemError { TmemError(.unavailable, message) }
    /// The backend no longer holds a page it had accepted (a host that restarted, a pool that was lost).
    public static func lost(_ message: String) -> TmemError { TmemError(.lost, message) }

    /// True when the backend's copy is damaged: drop it and report the page as lost.
    public var isDamaged: Bool { code == .damaged }
    /// True when the failure is temporary: the backend may still hold the page, and a later retry may
    /// succeed. Never drop a record of a page on a retryable error.
    public var isRetryable: Bool { code == .unavailable }
    /// True when the backend says the page is gone.
    public var isLost: Bool { code == .lost }
    /// True for an argument or configuration out of range.
    public var isInvalidArgument: Bool { code == .invalidArgument }
    /// True when the backend has no room for another pool.
    public var isTooManyPools: Bool { code == .tooManyPools }

    public var description: String { message }
}
