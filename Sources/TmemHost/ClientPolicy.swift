import Tmem

/// What the host grants one client: its weight (its part of the host's memory when clients contend) and
/// its cap (host memory it may never exceed).
///
/// Both count host memory as the host charges it (``HostConfiguration/pageChargeBytes(storedBytes:pages:)``):
/// each page's stored, compressed bytes plus a small fixed charge for the page's metadata, so a client
/// that sends well-compressing pages fits more of them under the same cap.
///
/// Policies are configured by client *name* (the name a session gives in HELLO): every session of one
/// name shares one account, one weight and one cap. ``sharedClient`` names the account that pages of
/// shared pools are charged to.
public struct ClientPolicy: Sendable, Equatable, CustomStringConvertible {
    /// The client's weight, at least 1: when the host is full, clients' shares are proportional to their
    /// weights (weighted max-min fairness, ``weightedShares(capacity:demands:)``).
    public var weight: Int
    /// The most host memory the client may hold, in charged bytes; nil for no cap (the host's capacity
    /// and the client's share still bound it).
    public var cap: Int?

    /// The largest weight accepted: enough for any ratio people configure, small enough that weights
    /// summed over thousands of clients stay far from overflow.
    public static let maxWeight = 1_000_000

    /// The name of the account every shared pool's pages are charged to: not a valid client name (a
    /// HELLO name is `A-Za-z0-9._-`), so no client can pose as it, but configurable like one.
    public static let sharedClient = "(shared)"

    /// Creates a policy.
    ///
    /// - Parameters:
    ///   - weight: 1...``maxWeight``; out-of-range values trap (parse text with ``parse(_:over:)``).
    ///   - cap: Charged bytes, at least 0; nil for none.
    public init(weight: Int = 1, cap: Int? = nil) {
        precondition((1...Self.maxWeight).contains(weight), "a client's weight is 1...\(Self.maxWeight), not \(weight)")
        precondition((cap ?? 0) >= 0, "a cap is a byte count")
        self.weight = weight
        self.cap = cap
    }

    public var description: String {
        "weight=\(weight),cap=\(cap.map(String.init) ?? "none")"
    }

    /// Whether `name` may name a client: 1 to 64 bytes of `A-Za-z0-9._-` (the HELLO rule), or
    /// ``sharedClient``.
    ///
    /// - Parameter name: The name to check.
    /// - Returns: true if it is valid.
    public static func isValidClientName(_ name: String) -> Bool {
        if name == sharedClient { return true }
        let bytes = Array(name.utf8)
        guard (1...64).contains(bytes.count) else { return false }
        return bytes.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2E
                || b == 0x5F || b == 0x2D
        }
    }

    /// Parses the command-line and CONFIGURE syntax `NAME:weight=W,cap=SIZE`, where either part (and the
    /// colon, when both are left out) may be missing and `SIZE` is a byte count as ``parseByteCount(_:)``
    /// reads it (`512MiB`, `2GiB`, `123456`) or `none`.
    ///
    /// - Parameters:
    ///   - text: Such as `alice:weight=2,cap=1GiB`, `bob:cap=512MiB`, `carol`.
    ///   - base: The policy the parts left out keep: the default policy on the command line, a client's
    ///     current policy when changing it at run time.
    /// - Returns: The client's name and its policy.
    /// - Throws: ``HostError`` (invalid setting) naming what is wrong: a bad name, an unknown or repeated
    ///   key, a weight out of 1...``maxWeight``, a size that does not parse.
    public static func parse(_ text: String, over base: ClientPolicy = ClientPolicy()) throws(HostError)
        -> (name: String, policy: ClientPolicy)
    {
        let name: String
        let settings: Substring
        if let colon = text.firstIndex(of: ":") {
            name = String(text[..<colon])
            settings = text[text.index(after: colon)...]
        } else {
            name = text
            settings = ""
        }
        guard isValidClientName(name) else {
            throw .invalidSetting(
                "'\(text)': a client name is 1 to 64 characters of A-Za-z0-9._- (or \(sharedClient)), as in NAME:weight=W,cap=SIZE")
        }
        var policy = base
        var seen: Set<Substring> = []
        for part in settings.split(separator: ",", omittingEmptySubsequences: false) where !(part.isEmpty && settings.isEmpty) {
            guard let equals = part.firstIndex(of: "=") else {
                throw .invalidSetting("'\(text)': '\(part)' is not KEY=VALUE (weight=W or cap=SIZE)")
            }
            let key = part[..<equals], value = String(part[part.index(after: equals)...])
            guard seen.insert(key).inserted else { throw .invalidSetting("'\(text)': \(key) is given twice") }
            switch key {
            case "weight":
                guard let weight = Int(value), (1...maxWeight).contains(weight) else {
                    throw .invalidSetting("'\(text)': the weight is a whole number from 1 to \(maxWeight), not '\(value)'")
                }
                policy.weight = weight
            case "cap":
                if value == "none" {
                    policy.cap = nil
                } else if let bytes = parseByteCount(value) {
                    policy.cap = bytes
                } else {
                    throw .invalidSetting("'\(text)': the cap is a size such as 512MiB, 2GiB or 123456 (or none), not '\(value)'")
                }
            default:
                throw .invalidSetting("'\(text)': unknown setting '\(key)' (a client takes weight=W and cap=SIZE)")
            }
        }
        return (name, policy)
    }
}
