import Glibc
import Synchronization
import Testing
import Tmem
import TmemCleancache
import TmemSQLite
import TmemSwapFile
import TmemTestKit
import TmemZcache

/// A cleancache over a small Zcache and a uniquely named tmem VFS over it (SQLite's VFS names are
/// process-wide; tests run in parallel).
struct VFSFixture {
    let cleancache: Cleancache
    let vfs: TmemVFS
    var name: String { vfs.name }

    private static let serial = Atomic<Int>(0)

    init(capacity: Int = 2 << 20, cachePages: Int = 8) throws {
        cleancache = Cleancache(backend: try Zcache(configuration: .init(limit: capacity)))
        let n = Self.serial.add(1, ordering: .relaxed).newValue
        vfs = try TmemVFS(name: "tmem-test-\(n)", cleancache: cleancache, pool: try cleancache.initFS(), cachePages: cachePages)
    }

    func statistic(_ name: String) -> Int { vfs.namedStatistics.first { $0.name == name }?.value ?? -1 }
}

/// Through which VFS the connection that writes, while a tmem connection reads, writes.
enum Writer: String, CaseIterable { case sameVFS, defaultVFS }

/// A temporary directory on the local disk (where O_DIRECT works) and the path of a database in it
/// (not made yet); the directory goes with its object, which the caller keeps alive to the end
/// (`withExtendedLifetime`).
func scratchDatabase() throws -> (TemporaryDirectory, String) {
    let directory = try TemporaryDirectory(making: "tmem-sqlite", in: "/var/tmp")
    return (directory, directory.file("items.db"))
}

/// Realistic rows: an id, a name-like text, a number and a longer text, and an index on the text.
enum Rows {
    static let schema = """
        CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER NOT NULL, note TEXT);
        CREATE INDEX items_name ON items(name);
        """

    static func name(_ id: Int) -> String { "item-\(String(id &* 2_654_435_761 % 1_000_003, radix: 36))-\(id % 97)" }

    static func note(_ id: Int, version: Int) -> String {
        let words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"]
        return (0..<(8 + id % 24)).map { words[(id &+ $0 &* 7 &+ version) % words.count] }.joined(separator: " ") + " v\(version)"
    }

    /// Makes `path` with `count` rows (version 0), through the default VFS.
    static func build(_ path: String, count: Int, journal: String = "delete") throws {
        let db = try SQLiteDatabase(path: path)
        try db.execute("PRAGMA journal_mode=\(journal);")
        try db.execute(schema)
        try db.execute("BEGIN")
        let insert = try db.prepare("INSERT INTO items VALUES(?1, ?2, ?3, ?4)")
        for id in 0..<count {
            try insert.bind([.integer(Int64(id)), .text(name(id)), .integer(Int64(id % 1000)), .text(note(id, version: 0))])
            _ = try insert.next()
        }
        try db.execute("COMMIT")
    }
}

/// Runs `argv` to completion: its exit status and what it wrote to stdout and stderr.
func run(_ argv: [String]) throws -> (status: Int32, output: String) {
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else { throw TmemError.unavailable("pipe: \(Errno.current)") }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
    posix_spawn_file_actions_addclose(&actions, fds[0])
    var pid: pid_t = 0
    let cArgs = argv.map { strdup($0) } + [nil]
    defer { cArgs.forEach { free($0) } }
    let rc = posix_spawn(&pid, argv[0], &actions, nil, cArgs, environ)
    close(fds[1])
    defer { close(fds[0]) }
    guard rc == 0 else { throw TmemError.unavailable("cannot run \(argv[0]): \(Errno(rawValue: rc))") }
    var output: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = read(fds[0], &buffer, buffer.count)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        output += buffer[0..<n]
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return (status, String(decoding: output, as: UTF8.self))
}

/// The sqlite3 shell, when this machine has one (the tests that need a second process say so when not).
let sqlite3Shell: String? = ["/usr/bin/sqlite3", "/bin/sqlite3", "/usr/local/bin/sqlite3"].first { access($0, X_OK) == 0 }
