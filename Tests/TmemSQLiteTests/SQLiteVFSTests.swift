import Glibc
import Testing
import Tmem
import TmemCleancache
import TmemSQLite
import TmemSwapFile
import TmemTestKit

/// Real SQLite (the system's libsqlite3.so.0) through the tmem VFS, against the default VFS and a
/// model of the table, with other connections and processes writing.
struct SQLiteVFSTests {
    typealias Row = (name: String, qty: Int, note: String)

    /// The rows a query through `db` returns for the point lookup of `id` and the range scan from
    /// `id`'s name on, as one comparable string.
    static func probe(_ db: SQLiteDatabase, id: Int) throws -> String {
        let point = try db.query("SELECT id, name, qty, note FROM items WHERE id = ?1", [.integer(Int64(id))])
        let range = try db.query("SELECT id, name, qty FROM items WHERE name >= ?1 ORDER BY name LIMIT 20", [.text(Rows.name(id))])
        return "\(point)|\(range)"
    }

    @Test func queriesMatchTheDefaultVFSAndTheDatabaseChecksIntact() throws {
        var rng = seededGenerator("SQLite tmem VFS vs default", default: 0x5A1)
        let (directory, path) = try scratchDatabase()
        defer { withExtendedLifetime(directory) {} }
        try Rows.build(path, count: 6000)
        let fixture = try VFSFixture(capacity: 1 << 20)
        let plain = try SQLiteDatabase(path: path, readOnly: true)
        let cached = try SQLiteDatabase(path: path, vfs: fixture.name, readOnly: true)
        try cached.execute("PRAGMA cache_size=10")
        var mismatches = 0
        for _ in 0..<3000 {
            let id = Int.random(in: 0..<6100, using: &rng)
            if try Self.probe(plain, id: id) != Self.probe(cached, id: id) { mismatches += 1 }
        }
        #expect(mismatches == 0)
        #expect(try cached.query("PRAGMA integrity_check") == [[.text("ok")]])
        let all = try cached.query("SELECT count(*), sum(qty), sum(length(note)) FROM items")
        #expect(all == (try plain.query("SELECT count(*), sum(qty), sum(length(note)) FROM items")))
        print("tmem VFS vs default: \(fixture.vfs.namedStatistics), cleancache \(fixture.cleancache.namedStatistics)")
        #expect(fixture.statistic("cleancache_hits") > 0, "pages leaving the small caches come back from cleancache")
        #expect(fixture.statistic("file_reads") > 0)
    }

    /// A second connection writes (updates, inserts, deletes, checkpoints, VACUUM) while the first reads
    /// through the tmem VFS: every read matches the model of the table.
    @Test(arguments: ["delete", "wal"], Writer.allCases)
    func readsFollowAnotherConnectionsWrites(journal: String, writer: Writer) throws {
        var rng = seededGenerator("SQLite coherency \(journal) \(writer)", default: 0xC0DE)
        let (directory, path) = try scratchDatabase()
        defer { withExtendedLifetime(directory) {} }
        let count = 3000
        try Rows.build(path, count: count, journal: journal)
        var model: [Int: Row] = [:]
        for id in 0..<count { model[id] = (Rows.name(id), id % 1000, Rows.note(id, version: 0)) }
        let fixture = try VFSFixture(capacity: 512 << 10)
        let reader = try SQLiteDatabase(path: path, vfs: fixture.name)
        try reader.execute("PRAGMA cache_size=10")
        let other = try SQLiteDatabase(path: path, vfs: writer == .sameVFS ? fixture.name : nil)
        var nextID = count
        var mismatches = 0
        for step in 0..<1500 {
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<30:
                try other.execute("BEGIN IMMEDIATE")
                for _ in 0..<Int.random(in: 1...20, using: &rng) {
                    guard let id = model.keys.randomElement(using: &rng) else { break }
                    let note = Rows.note(id, version: step)
                    _ = try other.query("UPDATE items SET note = ?1, qty = qty + 1 WHERE id = ?2", [.text(note), .integer(Int64(id))])
                    model[id]!.note = note
                    model[id]!.qty += 1
                }
                try other.execute("COMMIT")
            case 30..<36:
                let id = nextID
                nextID += 1
                _ = try other.query("INSERT INTO items VALUES(?1, ?2, ?3, ?4)",
                                    [.integer(Int64(id)), .text(Rows.name(id)), .integer(7), .text(Rows.note(id, version: step))])
                model[id] = (Rows.name(id), 7, Rows.note(id, version: step))
            case 36..<40:
                let low = Int.random(in: 0..<nextID, using: &rng)
                _ = try other.query("DELETE FROM items WHERE id BETWEEN ?1 AND ?2", [.integer(Int64(low)), .integer(Int64(low + 30))])
                for id in low...(low + 30) { model[id] = nil }
            case 40..<42:
                try other.execute(journal == "wal" ? "PRAGMA wal_checkpoint(TRUNCATE)" : "VACUUM")
            case 42..<43:
                try other.execute("VACUUM")
            case 43..<90:
                let id = Int.random(in: 0..<nextID, using: &rng)
                let got = try reader.query("SELECT name, qty, note FROM items WHERE id = ?1", [.integer(Int64(id))])
                let want: [[SQLiteValue]] = model[id].map { [[.text($0.name), .integer(Int64($0.qty)), .text($0.note)]] } ?? []
                if got != want {
                    mismatches += 1
                    if mismatches < 5 { print("step \(step): id \(id) read \(got.first?.map(\.description) ?? []) wanted \(want.first?.map(\.description) ?? [])") }
                }
            default:
                let got = try reader.query("SELECT count(*), sum(qty), sum(length(note)) FROM items")
                let want: [[SQLiteValue]] = [[.integer(Int64(model.count)), model.isEmpty ? .null : .integer(Int64(model.values.reduce(0) { $0 + $1.qty })),
                                              model.isEmpty ? .null : .integer(Int64(model.values.reduce(0) { $0 + $1.note.utf8.count }))]]
                if got != want {
                    mismatches += 1
                    if mismatches < 5 { print("step \(step): totals \(got) wanted \(want)") }
                }
            }
        }
        #expect(mismatches == 0)
        #expect(try reader.query("PRAGMA integrity_check") == [[.text("ok")]])
        let stats = fixture.vfs.namedStatistics
        print("SQLite coherency \(journal) \(writer): \(stats), cleancache \(fixture.cleancache.namedStatistics)")
        #expect(fixture.statistic("cleancache_hits") > 0)
        if writer == .defaultVFS {
            // The writer's changes reach the reader's caches only through the checks at its locks.
            let checks = journal == "wal" ? "wal_invalidations" : "change_counter_invalidations"
            #expect(fixture.statistic(checks) > 0)
        }
    }
}
