import Tmem
import TmemSQLite

/// How a phase picks the rows it looks up.
public enum KeyDistribution: String, Sendable, CaseIterable {
    /// Every row equally likely.
    case uniform
    /// Zipf, theta 0.99, the hot rows scattered over the table (``ZipfGenerator/scrambled(_:)``).
    case zipf
}

/// What a query is.
public enum LookupKind: String, Sendable, CaseIterable {
    /// One row by its primary key (the table's b-tree).
    case point
    /// The 10 rows from one row's name on, in name order (the index, then the table per row).
    case range
}

/// The outcome of one run of lookups: throughput, SQLite's own page cache, and correctness (every
/// returned row checked against ``ItemRows/row(_:)``; a checksum of all results, equal for equal
/// seeds whichever VFS served them).
public struct LookupResult: Sendable {
    public var queries = 0
    public var seconds = 0.0
    /// Queries whose result was not what the rows are (wrong bytes, missing or extra rows).
    public var mismatches = 0
    public var checksum: UInt64 = 0xCBF2_9CE4_8422_2325
    /// SQLite's page cache over the run: hits, and misses (pages read through the VFS).
    public var pagerHits = 0
    public var pagerMisses = 0

    public var queriesPerSecond: Double { seconds > 0 ? Double(queries) / seconds : 0 }

    mutating func mix(_ value: Int) {
        checksum = (checksum ^ UInt64(bitPattern: Int64(value))) &* 0x100_0000_01B3
    }
}

/// Runs lookups against a database of ``ItemRows`` through one connection.
public struct LookupPhase {
    public let rows: Int
    public let distribution: KeyDistribution
    public let kind: LookupKind
    private let zipf: ZipfGenerator?

    /// - Parameter zipf: A generator over `rows` to reuse (its setup is O(rows)); made when nil.
    public init(rows: Int, distribution: KeyDistribution, kind: LookupKind = .point, zipf: ZipfGenerator? = nil) {
        self.rows = rows
        self.distribution = distribution
        self.kind = kind
        self.zipf = distribution == .zipf ? (zipf ?? ZipfGenerator(n: rows)) : nil
    }

    /// Runs `count` queries drawn from `rng` on `db`, checking each; `pause` runs after every
    /// `interval` queries (0: never), inside the timed span.
    public func run(_ db: SQLiteDatabase, count: Int, rng: inout SeededGenerator, every interval: Int = 0, _ pause: () -> Void = {}) throws(SQLiteError) -> LookupResult {
        let sql = kind == .point
            ? "SELECT id, name, city, qty, note FROM items WHERE id = ?1"
            : "SELECT id, name, qty FROM items WHERE name >= ?1 ORDER BY name LIMIT 10"
        let statement = try db.prepare(sql)
        var result = LookupResult()
        let before = db.pagerCounters
        let start = monotonicNanoseconds()
        for n in 0..<count {
            if interval > 0 && n % interval == interval - 1 { pause() }
            let id = zipf.map { $0.scrambled($0.next(using: &rng)) } ?? Int.random(in: 0..<rows, using: &rng)
            let expected = ItemRows.row(id)
            try statement.bind([kind == .point ? .integer(Int64(id)) : .text(expected.name)])
            let got = try statement.rows()
            if !check(got, expected: expected, result: &result) { result.mismatches += 1 }
        }
        result.seconds = Double(monotonicNanoseconds() - start) / 1e9
        result.queries = count
        let after = db.pagerCounters
        result.pagerHits = after.hits - before.hits
        result.pagerMisses = after.misses - before.misses
        return result
    }

    private func check(_ got: [[SQLiteValue]], expected: ItemRows.Row, result: inout LookupResult) -> Bool {
        switch kind {
        case .point:
            result.mix(got.count)
            guard got.count == 1, case .integer(let id) = got[0][0], case .integer(let qty) = got[0][3] else { return false }
            result.mix(Int(id) &* 31 &+ Int(qty))
            return got[0] == [.integer(Int64(expected.id)), .text(expected.name), .text(expected.city), .integer(Int64(expected.qty)), .text(expected.note)]
        case .range:
            result.mix(got.count)
            var previous: String?
            for (i, row) in got.enumerated() {
                guard case .integer(let id) = row[0], case .text(let name) = row[1], case .integer(let qty) = row[2] else { return false }
                result.mix(Int(id) &* 31 &+ Int(qty))
                let truth = ItemRows.row(Int(id))
                guard name == truth.name, Int(qty) == truth.qty, previous.map({ $0 <= name }) ?? true else { return false }
                if i == 0 && Int(id) != expected.id { return false }
                previous = name
            }
            // Fewer than 10 rows only near the end of the name order; the first is always the row asked.
            return !got.isEmpty
        }
    }
}
