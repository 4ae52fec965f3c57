import Tmem
import TmemHost

/// What `tmem stat` and `tmem host-demo` show of a host: its totals and one row per client session.
///
/// Read from the STATS JSON of a remote host (``init(json:)``), or taken from an in-process ``Host``'s
/// ``HostStatistics`` (``init(_:)``), so one table (``StatTable``) serves both. Byte counts mean what
/// ``HostStatistics`` says: *original* 4096 per page, *compressed* as stored, *used* as charged (stored
/// plus a per-page metadata charge, the unit of capacity, shares and caps), *memory* what the store
/// really spends.
struct StatsSnapshot: Equatable, Sendable {
    /// The host's totals (STATS `host`).
    struct HostTotals: Equatable, Sendable {
        var capacityBytes = 0
        /// How the capacity is set, in STATS's words: a byte count, `N%` (of RAM) or `auto:FLOOR`.
        var capacitySetting = ""
        var usedBytes = 0
        var storedBytes = 0
        var memoryBytes = 0
        var pages = 0
        var persistentPages = 0
        var ephemeralPages = 0
        var evictedPages = 0
        /// Deduplicated ephemeral pages and the bytes saved (0 from a host that does not say).
        var deduplicatedPages = 0
        var dedupSavedBytes = 0
        var draining = false
        /// The shared pools' account (`host.shared`).
        var sharedPools = 0
        var sharedPages = 0
        var sharedStoredBytes = 0
        var sharedUsedBytes = 0
        /// Cleancache's counters over every session since the host started (`host.cleancache`); nil from
        /// a host older than them.
        var cleancache: CleancacheStatistics?
    }

    /// One session's row (STATS `clients[]`).
    struct ClientRow: Equatable, Sendable {
        var name = ""
        var session = 0
        var pools = 0
        var storedPages = 0
        var persistentPages = 0
        var originalBytes = 0
        var compressedBytes = 0
        var usedBytes = 0
        var weight = 1
        /// nil: no cap.
        var cap: Int?
        var share = 0
        /// Refused puts by reason, in STATS's order and words (`refused_share`, `no_such_pool`...).
        var refusals: [(reason: String, count: Int)] = []
        var evictedPages = 0
        var shrinkNotices = 0
        /// The target of a shrink notice not yet complied with.
        var shrinkTargetPages: Int?
        /// What the session did with its ephemeral pools (`cleancache`); nil from an older host.
        var cleancache: CleancacheStatistics?

        /// Every refusal, whatever its reason.
        var refusedPuts: Int { refusals.reduce(0) { $0 + $1.count } }

        static func == (a: ClientRow, b: ClientRow) -> Bool {
            a.name == b.name && a.session == b.session && a.pools == b.pools && a.storedPages == b.storedPages
                && a.persistentPages == b.persistentPages && a.originalBytes == b.originalBytes
                && a.compressedBytes == b.compressedBytes && a.usedBytes == b.usedBytes && a.weight == b.weight
                && a.cap == b.cap && a.share == b.share && a.refusals.elementsEqual(b.refusals, by: { $0 == $1 })
                && a.evictedPages == b.evictedPages && a.shrinkNotices == b.shrinkNotices
                && a.shrinkTargetPages == b.shrinkTargetPages && a.cleancache == b.cleancache
        }
    }

    var host = HostTotals()
    /// By session id, as the host lists them.
    var clients: [ClientRow] = []

    init() {}

    /// An in-process host's statistics.
    ///
    /// - Parameter statistics: A ``Host/statistics()`` snapshot.
    init(_ statistics: HostStatistics) {
        host.capacityBytes = statistics.capacityBytes
        host.capacitySetting = statistics.capacitySetting.description
        host.usedBytes = statistics.usedBytes
        host.storedBytes = statistics.storedBytes
        host.memoryBytes = statistics.memoryBytes
        host.pages = statistics.pages
        host.persistentPages = statistics.persistentPages
        host.ephemeralPages = statistics.ephemeralPages
        host.evictedPages = statistics.evictedPages
        host.deduplicatedPages = statistics.deduplicatedPages
        host.dedupSavedBytes = statistics.dedupSavedBytes
        host.draining = statistics.draining
        host.sharedPools = statistics.shared.pools
        host.sharedPages = statistics.shared.pages
        host.sharedStoredBytes = statistics.shared.storedBytes
        host.sharedUsedBytes = statistics.shared.usedBytes
        host.cleancache = statistics.cleancache
        clients = statistics.clients.map { s in
            var row = ClientRow()
            row.name = s.name
            row.session = Int(truncatingIfNeeded: s.session)
            row.pools = s.pools
            row.storedPages = s.storedPages
            row.persistentPages = s.persistentPages
            row.originalBytes = s.originalBytes
            row.compressedBytes = s.compressedBytes
            row.usedBytes = s.usedBytes
            row.weight = s.weight
            row.cap = s.cap
            row.share = s.share
            row.refusals = RefusalCounts.reported.map { ($0.name, s.refusals[$0]) }
            row.evictedPages = s.evictedPages
            row.shrinkNotices = s.shrinkNotices
            row.shrinkTargetPages = s.shrinkTargetPages
            row.cleancache = s.cleancache
            return row
        }
    }

    /// Reads a host's STATS JSON (docs/PROTOCOL.md, "Stats"; ``HostStatistics/json``).
    ///
    /// Every key the table shows must be there with the right type; keys it does not know are ignored, so
    /// a newer host still reads.
    ///
    /// - Parameter json: The joined payloads of the STATS reply.
    /// - Throws: ``StatsFormatError`` naming the first key that is missing or of the wrong type.
    init(json: String) throws(StatsFormatError) {
        let root: JSONValue
        do throws(JSONError) {
            root = try JSONValue.parse(json)
        } catch {
            throw StatsFormatError("the host's STATS are not JSON: \(error)")
        }
        guard let hostObject = root["host"], case .object = hostObject else {
            throw StatsFormatError("the host's STATS have no \"host\" object")
        }
        let fields = Fields(hostObject, path: "host")
        host.capacityBytes = try fields.int("capacity_bytes")
        host.capacitySetting = try fields.string("capacity_setting")
        host.usedBytes = try fields.int("used_bytes")
        host.storedBytes = try fields.int("stored_bytes")
        host.memoryBytes = try fields.int("memory_bytes")
        host.pages = try fields.int("pages")
        host.persistentPages = try fields.int("persistent_pages")
        host.ephemeralPages = try fields.int("ephemeral_pages")
        host.evictedPages = try fields.int("evicted_pages")
        host.deduplicatedPages = try fields.int("deduplicated_pages", ifAbsent: 0)
        host.dedupSavedBytes = try fields.int("dedup_saved_bytes", ifAbsent: 0)
        host.draining = try fields.bool("draining")
        if let shared = hostObject["shared"] {
            let sharedFields = Fields(shared, path: "host.shared")
            host.sharedPools = try sharedFields.int("pools")
            host.sharedPages = try sharedFields.int("pages")
            host.sharedStoredBytes = try sharedFields.int("stored_bytes")
            host.sharedUsedBytes = try sharedFields.int("used_bytes")
        }
        host.cleancache = try Self.cleancache(hostObject["cleancache"], path: "host.cleancache")
        guard case .array(let rows)? = root["clients"] else {
            throw StatsFormatError("the host's STATS have no \"clients\" array")
        }
        for (i, value) in rows.enumerated() {
            let f = Fields(value, path: "clients[\(i)]")
            var row = ClientRow()
            row.name = try f.string("name")
            row.session = try f.int("session")
            row.pools = try f.int("pools")
            row.storedPages = try f.int("stored_pages")
            row.persistentPages = try f.int("persistent_pages")
            row.originalBytes = try f.int("original_bytes")
            row.compressedBytes = try f.int("compressed_bytes")
            row.usedBytes = try f.int("used_bytes")
            row.weight = try f.int("weight")
            row.cap = try f.optionalInt("cap")
            row.share = try f.int("share")
            row.evictedPages = try f.int("evicted_pages")
            row.shrinkNotices = try f.int("shrink_notices")
            row.shrinkTargetPages = try f.optionalInt("shrink_target_pages")
            row.cleancache = try Self.cleancache(value["cleancache"], path: "clients[\(i)].cleancache")
            guard case .object(let refusals)? = value["refusals"] else {
                throw StatsFormatError("clients[\(i)] has no \"refusals\" object")
            }
            // STATS's order for the reasons it lists, then any others by name.
            let known = RefusalCounts.reported.map(\.name)
            for reason in known + refusals.keys.filter({ !known.contains($0) }).sorted() {
                guard let count = refusals[reason] else { continue }
                guard let number = count.intValue else {
                    throw StatsFormatError("clients[\(i)].refusals.\(reason) is not a whole number")
                }
                row.refusals.append((reason, number))
            }
            clients.append(row)
        }
    }
}

extension StatsSnapshot {
    /// A `cleancache` object of STATS: nil when it is absent (a host older than the counters), else every
    /// counter must be there.
    fileprivate static func cleancache(_ value: JSONValue?, path: String) throws(StatsFormatError) -> CleancacheStatistics? {
        guard let value else { return nil }
        let f = Fields(value, path: path)
        var c = CleancacheStatistics()
        c.pools = try f.int("pools")
        c.succGets = try f.int("succ_gets")
        c.failedGets = try f.int("failed_gets")
        c.puts = try f.int("puts")
        c.invalidates = try f.int("invalidates")
        c.evictedPages = try f.int("evicted_pages")
        return c
    }
}

/// STATS JSON that does not say what `tmem stat` shows.
struct StatsFormatError: Error, Equatable, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// Typed reads of one JSON object's members, naming the member that is wrong.
private struct Fields {
    let object: JSONValue
    let path: String

    init(_ object: JSONValue, path: String) {
        self.object = object
        self.path = path
    }

    func int(_ key: String) throws(StatsFormatError) -> Int {
        guard let value = object[key]?.intValue else { throw missing(key, "a whole number") }
        return value
    }

    func optionalInt(_ key: String) throws(StatsFormatError) -> Int? {
        guard let value = object[key] else { throw missing(key, "a whole number or null") }
        if value == .null { return nil }
        guard let number = value.intValue else { throw missing(key, "a whole number or null") }
        return number
    }

    /// A member an older host does not send: `fallback` when absent, else a whole number.
    func int(_ key: String, ifAbsent fallback: Int) throws(StatsFormatError) -> Int {
        object[key] == nil ? fallback : try int(key)
    }

    func string(_ key: String) throws(StatsFormatError) -> String {
        guard let value = object[key]?.stringValue else { throw missing(key, "a string") }
        return value
    }

    func bool(_ key: String) throws(StatsFormatError) -> Bool {
        guard let value = object[key]?.boolValue else { throw missing(key, "true or false") }
        return value
    }

    private func missing(_ key: String, _ kind: String) -> StatsFormatError {
        StatsFormatError("\(path).\(key) is missing or not \(kind)")
    }
}
