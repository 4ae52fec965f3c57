import CSQLite

/// A failure reported by SQLite: its (extended) result code and message.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String
    public var description: String { "SQLite error \(code): \(message)" }
}

/// A value SQLite stores or returns.
public enum SQLiteValue: Hashable, Sendable, CustomStringConvertible {
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
    case null

    public var description: String {
        switch self {
        case .integer(let v): "\(v)"
        case .real(let v): "\(v)"
        case .text(let v): v
        case .blob(let v): "x'\(v.map { String($0, radix: 16) }.joined())'"
        case .null: "NULL"
        }
    }
}

/// One connection to a SQLite database in the system's libsqlite3.so.0, through a VFS named at open
/// (``TmemVFS``'s, or the default). A thin wrapper for Tmem's tools and tests: statements, bindings,
/// rows as ``SQLiteValue``s; not a general ORM.
///
/// Not thread-safe: use one connection from one thread at a time (SQLite's own rule for a connection
/// opened with `SQLITE_OPEN_NOMUTEX`, which this is).
public final class SQLiteDatabase {
    let handle: OpaquePointer

    /// Opens (creating if asked) the database at `path` through the VFS named `vfs` (nil: the default).
    ///
    /// - Parameter busyTimeoutMilliseconds: How long a statement waits for another connection's lock
    ///   before failing with SQLITE_BUSY.
    public init(path: String, vfs: String? = nil, readOnly: Bool = false, create: Bool = true, busyTimeoutMilliseconds: Int32 = 10_000) throws(SQLiteError) {
        var db: OpaquePointer?
        var flags = readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE
        if create && !readOnly { flags |= SQLITE_OPEN_CREATE }
        flags |= SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, vfs)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(code: rc, message: "cannot open \(path): \(message)")
        }
        handle = db
        sqlite3_busy_timeout(db, busyTimeoutMilliseconds)
    }

    deinit { sqlite3_close_v2(handle) }

    /// The library's version, e.g. "3.40.1".
    public static var libraryVersion: String { String(cString: sqlite3_libversion()) }

    /// Runs one or more statements that return no rows of interest.
    public func execute(_ sql: String) throws(SQLiteError) {
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &message)
        guard rc == SQLITE_OK else {
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_free(message)
            throw SQLiteError(code: sqlite3_extended_errcode(handle), message: text)
        }
    }

    /// Prepares one statement.
    public func prepare(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v2(handle, sql, -1, &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw error(rc) }
        return SQLiteStatement(handle: statement, database: self)
    }

    /// Runs a query and returns all its rows.
    public func query(_ sql: String, _ parameters: [SQLiteValue] = []) throws(SQLiteError) -> [[SQLiteValue]] {
        let statement = try prepare(sql)
        try statement.bind(parameters)
        return try statement.rows()
    }

    /// SQLite's own page cache since the connection opened: hits, and misses (each a page read
    /// through the VFS).
    public var pagerCounters: (hits: Int, misses: Int) {
        var hits: Int32 = 0, misses: Int32 = 0, high: Int32 = 0
        sqlite3_db_status(handle, SQLITE_DBSTATUS_CACHE_HIT, &hits, &high, 0)
        sqlite3_db_status(handle, SQLITE_DBSTATUS_CACHE_MISS, &misses, &high, 0)
        return (Int(hits), Int(misses))
    }

    func error(_ rc: Int32) -> SQLiteError {
        SQLiteError(code: sqlite3_extended_errcode(handle), message: String(cString: sqlite3_errmsg(handle)))
    }
}

/// A prepared statement of a ``SQLiteDatabase`` (finalized when it goes).
public final class SQLiteStatement {
    let handle: OpaquePointer
    let database: SQLiteDatabase

    init(handle: OpaquePointer, database: SQLiteDatabase) {
        self.handle = handle
        self.database = database
    }

    deinit { sqlite3_finalize(handle) }

    /// Resets the statement and binds `parameters` to ?1, ?2, ... (copied by SQLite).
    public func bind(_ parameters: [SQLiteValue]) throws(SQLiteError) {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        for (i, value) in parameters.enumerated() {
            let n = Int32(i + 1)
            let rc: Int32
            switch value {
            case .integer(let v): rc = sqlite3_bind_int64(handle, n, v)
            case .real(let v): rc = sqlite3_bind_double(handle, n, v)
            case .text(let v): rc = sqlite3_bind_text(handle, n, v, -1, tmem_sqlite3_transient())
            case .blob(let v): rc = v.withUnsafeBytes { sqlite3_bind_blob(handle, n, $0.baseAddress, Int32($0.count), tmem_sqlite3_transient()) }
            case .null: rc = sqlite3_bind_null(handle, n)
            }
            guard rc == SQLITE_OK else { throw database.error(rc) }
        }
    }

    /// Steps once: the row, or nil when the statement is done.
    public func next() throws(SQLiteError) -> [SQLiteValue]? {
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return (0..<sqlite3_column_count(handle)).map(column)
        case SQLITE_DONE: return nil
        case let rc: throw database.error(rc)
        }
    }

    /// Steps to the end, collecting every row.
    public func rows() throws(SQLiteError) -> [[SQLiteValue]] {
        var rows: [[SQLiteValue]] = []
        while let row = try next() { rows.append(row) }
        return rows
    }

    private func column(_ i: Int32) -> SQLiteValue {
        switch sqlite3_column_type(handle, i) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(handle, i))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(handle, i))
        case SQLITE_TEXT:
            let bytes = UnsafeRawBufferPointer(start: sqlite3_column_text(handle, i), count: Int(sqlite3_column_bytes(handle, i)))
            return .text(String(decoding: bytes, as: UTF8.self))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(handle, i))
            return .blob(count == 0 ? [] : Array(UnsafeRawBufferPointer(start: sqlite3_column_blob(handle, i), count: count)))
        default: return .null
        }
    }
}
