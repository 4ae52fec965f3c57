import Tmem
/// 16 bytes that name a session to the connections that JOIN it: chosen at random by the host, known
/// only to the client that was welcomed, compared in constant time.
public struct SessionToken: Sendable, Hashable, CustomStringConvertible {
    /// Bytes 0...7, little-endian.
    public let low: UInt64
    /// Bytes 8...15, little-endian.
    public let high: UInt64

    /// Wraps two halves.
    public init(low: UInt64, high: UInt64) {
        self.low = low
        self.high = high
    }

    /// Reads a token from its 16 wire bytes (little-endian halves).
    ///
    /// - Parameter bytes: Exactly 16 bytes.
    /// - Returns: The token, or nil for another length.
    public init?(bytes: some Collection<UInt8>) {
        guard let (low, high) = LittleEndian128.halves(of: bytes) else { return nil }
        self.init(low: low, high: high)
    }

    /// A new token from the system's random source (`getrandom`).
    static func random() -> SessionToken {
        var rng = SystemRandomNumberGenerator()
        return SessionToken(low: rng.next(), high: rng.next())
    }

    /// The 16 wire bytes.
    public var bytes: [UInt8] { LittleEndian128.bytes(low: low, high: high) }

    /// Compares in constant time (no early exit on the first differing byte), so that a client guessing
    /// a token learns nothing from how long the host took to say no.
    public static func == (a: SessionToken, b: SessionToken) -> Bool { (a.low ^ b.low) | (a.high ^ b.high) == 0 }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(low)
        hasher.combine(high)
    }

    /// Not the token itself: logs must not leak it.
    public var description: String { "token(…)" }
}

/// One authenticated client of the host: what the server learned when it welcomed the client. Its pools,
/// counters and shrink notice live in the ``Host``, which owns the session's state; this object only
/// names it, so it can be held by every connection that joined the session.
///
/// Immutable, and so safe to share between threads.
public final class Session: Sendable, CustomStringConvertible {
    /// The session's number, unique for the host's lifetime (the WELCOME's session id).
    public let id: UInt64
    /// The secret a JOIN must present (the WELCOME's session token).
    public let token: SessionToken
    /// The client's name: the account its pages are charged to and its policy is looked up by.
    public let name: String
    /// Whether the client proved the host's secret (a TCP proof, or a Unix-socket client that sent one
    /// too): only such sessions may create or join shared pools.
    public let secretAuthenticated: Bool
    /// Whether the session may run admin operations (CONFIGURE): a Unix-socket peer that is root or
    /// the host's own user.
    public let isAdmin: Bool

    init(id: UInt64, token: SessionToken, name: String, secretAuthenticated: Bool, isAdmin: Bool) {
        self.id = id
        self.token = token
        self.name = name
        self.secretAuthenticated = secretAuthenticated
        self.isAdmin = isAdmin
    }

    public var description: String { "session \(id) (\(name))" }
}
