import Synchronization
import Tmem

/// The contract every ``Backend`` must keep (SEMANTICS.md, "Transcendent memory"), as checks a test
/// suite runs on each backend: the RAM pool, Zcache, and later the remote and tiered ones.
///
/// Each check makes fresh backends through `make`, runs one facet of the contract and returns the
/// violations it saw, as sentences (empty: the backend passed). The kit does not import Testing; a test
/// asserts `#expect(violations.isEmpty, ...)`. A check throws only when it could not run (a pool could
/// not be made, a test thread threw), never to report a violation.
///
/// Randomized checks are seeded from ``seed`` (which ``testSeed(_:default:)`` prints and
/// `TMEM_TEST_SEED` overrides), so a failure replays.
///
/// The facets: ``checkRoundTrips()``, ``checkAccounting()``, ``checkDestroyedPool()``,
/// ``checkAgainstModel(steps:)``, ``checkEphemeralPagesGoFirst()``, ``checkPersistentPagesStay()``,
/// ``checkCapacityChanges()``, ``checkFlushObjectRaces(rounds:)``, ``checkPoolIDs(cycles:)``,
/// ``checkBatches()``.
public struct BackendContract: Sendable, CustomStringConvertible {
    /// How the backend spends memory, so that the capacity checks know how strict to be.
    public enum Accounting: Sendable {
        /// Exactly ``pageSize`` bytes of capacity per held page, no metadata (the RAM pool): every
        /// persistent put that fits in the room ephemeral pages left must be accepted.
        case exactPages
        /// Pages cost what they cost (compressed objects, metadata, allocator spans): a put may be refused
        /// a little before the capacity is reached, and evicting ephemeral pages may free less than it
        /// seems, so the checks ask for most, not all, of the puts to be accepted.
        case approximate
    }

    /// The backend's name in violation messages and test output.
    public let name: String
    /// Makes a new, empty backend whose capacity is `capacityBytes`.
    public let make: @Sendable (_ capacityBytes: Int) throws -> any Backend
    /// How strictly the capacity checks hold the backend to its capacity.
    public var accounting: Accounting
    /// The seed of the randomized checks.
    public var seed: UInt64

    /// Creates a contract suite for one kind of backend.
    ///
    /// - Parameters:
    ///   - name: The backend's name, for messages.
    ///   - accounting: How it spends its capacity (``Accounting``).
    ///   - seed: The default seed of the randomized checks (printed; `TMEM_TEST_SEED` overrides it).
    ///   - make: Makes a new, empty backend of the given capacity in bytes.
    public init(
        name: String, accounting: Accounting = .approximate, seed: UInt64 = 0x7E57_C0DE,
        make: @escaping @Sendable (_ capacityBytes: Int) throws -> any Backend
    ) {
        self.name = name
        self.make = make
        self.accounting = accounting
        self.seed = seed
    }

    public var description: String { name }

    /// The generator of one randomized check, its seed printed under the check's and backend's name.
    func generator(_ check: String) -> SeededGenerator {
        SeededGenerator(seed: testSeed("\(name) \(check)", default: seed))
    }
}

// MARK: - Recording violations

/// The violations one check saw: the first few in full, the rest counted, so that a broken backend does
/// not flood the log with a million lines.
struct Violations: Sendable {
    private(set) var messages: [String] = []
    private(set) var count = 0
    let prefix: String
    static let kept = 20

    init(_ prefix: String) { self.prefix = prefix }

    mutating func add(_ message: String) {
        count += 1
        if messages.count < Self.kept { messages.append("\(prefix): \(message)") }
    }

    /// Adds `message` unless `condition` holds.
    mutating func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { add(message()) }
    }

    mutating func merge(_ other: Violations) {
        for message in other.messages where messages.count < Self.kept { messages.append(message) }
        count += other.count
    }

    /// The list a check returns.
    var list: [String] {
        count > messages.count ? messages + ["\(prefix): ... and \(count - messages.count) more"] : messages
    }
}

/// Violations from several threads.
final class SharedViolations: Sendable {
    private let state: Mutex<Violations>
    init(_ prefix: String) { state = Mutex(Violations(prefix)) }
    func add(_ message: String) { state.withLock { $0.add(message) } }
    func merge(_ other: Violations) { state.withLock { $0.merge(other) } }
    var list: [String] { state.withLock { $0.list } }
}

// MARK: - Helpers for the checks

extension Key {
    /// A key from plain integers.
    init(_ pool: PoolID, _ object: UInt64, _ index: Int) {
        self.init(pool: pool, object: ObjectID(rawValue: object), index: PageIndex(rawValue: UInt32(index)))
    }
}

extension Backend {
    /// Puts an array's bytes.
    func put(_ key: Key, _ bytes: [UInt8]) -> PutResult { bytes.withUnsafeBytes { put(key, page: $0) } }

    /// Puts an array's bytes, with the stored-bytes delta.
    func putCharged(_ key: Key, _ bytes: [UInt8]) -> (result: PutResult, storedBytesDelta: Int) {
        bytes.withUnsafeBytes { putCharged(key, page: $0) }
    }

    /// Gets a page: its bytes, nil on a miss, or the error.
    func fetch(_ key: Key) -> Result<[UInt8]?, TmemError> {
        var out = [UInt8](repeating: 0xA5, count: pageSize)
        var failure: TmemError?
        let hit = out.withUnsafeMutableBytes { buffer -> Bool in
            do throws(TmemError) {
                return try get(key, into: buffer)
            } catch {
                failure = error
                return false
            }
        }
        if let failure { return .failure(failure) }
        return .success(hit ? out : nil)
    }

    /// A named counter, or nil when the backend has none of that name.
    func statistic(_ name: String) -> Int? { namedStatistics.first { $0.name == name }?.value }
}

/// A short description of a page for messages: its first 8 bytes and its FNV-1a hash.
func summary(_ bytes: [UInt8]?) -> String {
    guard let bytes else { return "a miss" }
    let hash = bytes.withUnsafeBytes { fnv1a64($0) }
    return "a page of hash \(hex16(hash))"
}

/// Describes what a get returned, against what it should have.
func describe(_ result: Result<[UInt8]?, TmemError>) -> String {
    switch result {
    case .success(let bytes): summary(bytes)
    case .failure(let error): "the error \"\(error)\""
    }
}

/// Reads the (tag, version) a page made by ``PageFactory/page(_:tag:version:)`` carries (not for zero and
/// same-filled pages).
func stamp(of bytes: [UInt8]) -> (tag: UInt64, version: UInt64) {
    bytes.withUnsafeBytes { ($0.loadUnaligned(as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) }
}

/// Pages for the checks, made once and stamped per put: a fresh 4 KiB page per put would cost more than
/// the backend's own work in a debug build.
struct PageFactory: Sendable {
    private let bases: [PageKind: [[UInt8]]]
    static let variants = 8

    init(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        var bases: [PageKind: [[UInt8]]] = [:]
        for kind in PageKind.allCases {
            bases[kind] = (0..<Self.variants).map { _ in kind.makePage(using: &rng) }
        }
        self.bases = bases
    }

    /// A page of `kind` that carries `tag` and `version` in its first 16 bytes, so that every page a
    /// check makes is distinct and says where it came from. Zero pages stay zero; same-filled pages
    /// carry them folded into their word.
    func page(_ kind: PageKind, tag: UInt64, version: UInt64) -> [UInt8] {
        switch kind {
        case .zero:
            return [UInt8](repeating: 0, count: pageSize)
        case .sameFilled:
            var bytes = [UInt8](repeating: 0, count: pageSize)
            let word = (tag &* 0x9E37_79B9 &+ version) | 1
            bytes.withUnsafeMutableBytes { fillPage($0, with: word) }
            return bytes
        default:
            var bytes = bases[kind]![Int((tag &+ version) % UInt64(Self.variants))]
            bytes.withUnsafeMutableBytes { page in
                page.storeBytes(of: tag, toByteOffset: 0, as: UInt64.self)
                page.storeBytes(of: version, toByteOffset: 8, as: UInt64.self)
            }
            return bytes
        }
    }
}
