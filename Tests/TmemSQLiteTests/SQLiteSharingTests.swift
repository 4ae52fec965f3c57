import Glibc
import Synchronization
import Testing
import Tmem
import TmemCleancache
import TmemSQLite
import TmemSwapFile
import TmemTestKit

/// The tmem VFS while other processes and threads write the database.
struct SQLiteSharingTests {
    /// The sqlite3 shell, a second process, updates rows and checkpoints while this process reads
    /// through the tmem VFS: every read matches the model.
    @Test(.enabled(if: sqlite3Shell != nil, "needs the sqlite3 shell (Debian's sqlite3 package) as the second process"),
          arguments: ["delete", "wal"])
    func readsFollowAnotherProcesssWrites(journal: String) throws {
        let shell = try #require(sqlite3Shell)
        var rng = seededGenerator("SQLite second process \(journal)", default: 0x2D0C)
        let (directory, path) = try scratchDatabase()
        defer { withExtendedLifetime(directory) {} }
        let count = 2000
        try Rows.build(path, count: count, journal: journal)
        var qty = (0..<count).map { $0 % 1000 }
        let fixture = try VFSFixture(capacity: 1 << 20)
        let reader = try SQLiteDatabase(path: path, vfs: fixture.name)
        try reader.execute("PRAGMA cache_size=10")
        var mismatches = 0
        var writes = 0
        for step in 0..<400 {
            if Int.random(in: 0..<100, using: &rng) < 15 {
                let ids = (0..<Int.random(in: 1...40, using: &rng)).map { _ in Int.random(in: 0..<count, using: &rng) }
                var sql = "BEGIN IMMEDIATE; UPDATE items SET qty = qty + 1, note = note || '.' WHERE id IN (\(ids.map(String.init).joined(separator: ",")));"
                sql += "COMMIT;"
                if Int.random(in: 0..<3, using: &rng) == 0 { sql += journal == "wal" ? "PRAGMA wal_checkpoint(TRUNCATE);" : "VACUUM;" }
                let result = try run([shell, "-batch", "-cmd", ".timeout 10000", path, sql])
                #expect(result.status == 0, "sqlite3 failed: \(result.output)")
                for id in Set(ids) { qty[id] += 1 }
                writes += 1
            } else {
                let id = Int.random(in: 0..<count, using: &rng)
                let got = try reader.query("SELECT qty FROM items WHERE id = ?1", [.integer(Int64(id))])
                if got != [[.integer(Int64(qty[id]))]] {
                    mismatches += 1
                    if mismatches < 5 { print("step \(step): id \(id) qty \(got) wanted \(qty[id])") }
                }
                if step % 50 == 0 {
                    let total = try reader.query("SELECT sum(qty) FROM items")
                    if total != [[.integer(Int64(qty.reduce(0, +)))]] { mismatches += 1 }
                }
            }
        }
        #expect(mismatches == 0)
        #expect(try reader.query("PRAGMA integrity_check") == [[.text("ok")]])
        print("SQLite second process \(journal): \(writes) writes, \(fixture.vfs.namedStatistics)")
        #expect(writes > 0)
        #expect(fixture.statistic(journal == "wal" ? "wal_invalidations" : "change_counter_invalidations") > 0)
    }

    /// Four threads read through their own tmem connections while a fifth moves quantity between rows
    /// (sum constant, each row's note naming its quantity), through the tmem VFS or the default one (then
    /// only the checks at locks and reads keep the readers' caches right, racing each other): no reader
    /// ever sees a torn or stale state.
    @Test(arguments: ["delete", "wal"], Writer.allCases)
    func threadsReadWhileOneWrites(journal: String, writer: Writer) throws {
        let seed = testSeed("SQLite threads \(journal) \(writer)", default: 0x7E4D)
        let (directory, path) = try scratchDatabase()
        defer { withExtendedLifetime(directory) {} }
        let count = 1500
        do {
            let db = try SQLiteDatabase(path: path)
            try db.execute("PRAGMA journal_mode=\(journal); \(Rows.schema) BEGIN;")
            let insert = try db.prepare("INSERT INTO items VALUES(?1, ?2, 100, ?3)")
            for id in 0..<count {
                try insert.bind([.integer(Int64(id)), .text(Rows.name(id)), .text(Rows.note(id, version: 0) + " q100")])
                _ = try insert.next()
            }
            try db.execute("COMMIT")
        }
        let fixture = try VFSFixture(capacity: 1 << 20)
        let name = fixture.name
        let failures = Atomic<Int>(0)
        let done = Atomic<Bool>(false)
        try runConcurrently(threads: 5) { thread in
            var rng = SeededGenerator(seed: seed &+ UInt64(thread))
            let db = try SQLiteDatabase(path: path, vfs: thread == 0 && writer == .defaultVFS ? nil : name)
            try db.execute("PRAGMA cache_size=10")
            if thread == 0 {
                defer { done.store(true, ordering: .releasing) }
                for step in 0..<300 {
                    if journal == "wal" && step % 50 == 49 { try db.execute("PRAGMA wal_checkpoint(PASSIVE)") }
                    let a = Int.random(in: 0..<count, using: &rng), b = Int.random(in: 0..<count, using: &rng)
                    guard a != b else { continue }
                    try db.execute("BEGIN IMMEDIATE")
                    for (id, delta) in [(a, -1), (b, 1)] {
                        _ = try db.query("UPDATE items SET qty = qty + ?1, note = substr(note, 1, instr(note, ' q')) || 'q' || (qty + ?1) WHERE id = ?2",
                                         [.integer(Int64(delta)), .integer(Int64(id))])
                    }
                    try db.execute("COMMIT")
                }
                return
            }
            var reads = 0
            while !done.load(ordering: .acquiring) || reads < 200 {
                reads += 1
                let id = Int.random(in: 0..<count, using: &rng)
                let row = try db.query("SELECT qty, note FROM items WHERE id = ?1", [.integer(Int64(id))])
                guard case .integer(let qty)? = row.first?.first, case .text(let note)? = row.first?.last, note.hasSuffix(" q\(qty)") else {
                    failures.add(1, ordering: .relaxed)
                    continue
                }
                if reads % 40 == 0, try db.query("SELECT sum(qty) FROM items") != [[.integer(Int64(100 * count))]] { failures.add(1, ordering: .relaxed) }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
        print("SQLite threads \(journal) \(writer): \(fixture.vfs.namedStatistics)")
        #expect(fixture.statistic("cleancache_hits") > 0)
    }

    /// A connection holds a write lock while other connections of the same VFS open and close the file
    /// and forty other databases (whose idle files the VFS closes): the lock holds, as the sqlite3 shell
    /// (another process) finds; and a database changed while idle here is read afresh when reopened.
    @Test(.enabled(if: sqlite3Shell != nil, "needs the sqlite3 shell (Debian's sqlite3 package) as the second process"))
    func closingFilesNeverDropsAnotherConnectionsLocks() throws {
        let shell = try #require(sqlite3Shell)
        let (directory, path) = try scratchDatabase()
        defer { withExtendedLifetime(directory) {} }
        try Rows.build(path, count: 500)
        let fixture = try VFSFixture()
        let holder = try SQLiteDatabase(path: path, vfs: fixture.name)
        try holder.execute("BEGIN IMMEDIATE; UPDATE items SET qty = qty + 1 WHERE id = 1;")
        for n in 0..<40 {
            let other = directory.file("other-\(n).db")
            try Rows.build(other, count: 10)
            _ = try SQLiteDatabase(path: other, vfs: fixture.name).query("SELECT count(*) FROM items")
            _ = try SQLiteDatabase(path: path, vfs: fixture.name, busyTimeoutMilliseconds: 0).query("PRAGMA schema_version")
        }
        let blocked = try run([shell, "-batch", path, "UPDATE items SET qty = 0 WHERE id = 2;"])
        #expect(blocked.status != 0 && blocked.output.contains("locked"), "the holder's lock must still hold: \(blocked)")
        try holder.execute("COMMIT")
        // Idle here, changed by another process, then reopened: the new bytes.
        let before = try SQLiteDatabase(path: path, vfs: fixture.name).query("SELECT qty FROM items WHERE id = 3")
        let update = try run([shell, "-batch", path, "UPDATE items SET qty = 4242 WHERE id = 3;"])
        #expect(update.status == 0, "\(update.output)")
        let after = try SQLiteDatabase(path: path, vfs: fixture.name).query("SELECT qty FROM items WHERE id = 3")
        #expect(before != [[.integer(4242)]] && after == [[.integer(4242)]])
    }
}
