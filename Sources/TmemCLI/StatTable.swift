import Tmem
import TmemHost

/// The table `tmem stat` prints, as `zramctl` does for zram devices: two lines on the host, then one
/// aligned row per client session (names left, numbers right, sizes in binary units).
///
/// ```
/// tmemd at unix:/run/tmem/tmemd.sock: capacity 1.0 GiB (25% of RAM); 12.3 MiB used (1%), 11.9 MiB stored, 14.0 MiB of memory
/// 3000 pages (2800 persistent, 200 ephemeral), 0 evicted; not draining
/// NAME  SESSION  POOLS  PAGES  PERSISTENT      ORIG     COMPR      USED  WEIGHT  CAP     SHARE  REFUSED  EVICTED  SHRINKS
/// db          1      1   4096        4096  16.0 MiB   5.2 MiB   5.3 MiB       4    -   3.4 MiB      120        0        2
/// refused puts: db share 100, shrinking 20
/// cleancache: 3 ephemeral pools; 900 succ_gets, 100 failed_gets (90% hits), 1200 puts, 40 invalidates, 6 evicted_pages
/// NAME  SESSION  POOLS  SUCC_GETS  FAILED_GETS  HIT%  PUTS  INVALIDATES  EVICTED_PAGES
/// web         7      2        900          100    90  1200           40              6
/// ```
///
/// The cleancache lines (``cleancacheLines(_:rows:)``) appear only once the host counted something on
/// ephemeral pools or has one open, with a row for each session that did or has: a host that serves
/// frontswap alone prints the table as before.
enum StatTable {
    /// The lines of the table.
    ///
    /// - Parameters:
    ///   - snapshot: The host's statistics.
    ///   - address: How the host was reached, for the first line (nil: "the host").
    ///   - hiding: Whether to leave a row out (`tmem stat` leaves out its own session).
    /// - Returns: The lines, without newlines.
    static func lines(_ snapshot: StatsSnapshot, address: String?, hiding: (StatsSnapshot.ClientRow) -> Bool = { _ in false })
        -> [String]
    {
        let h = snapshot.host
        var out: [String] = []
        let percent = h.capacityBytes > 0 ? " (\(Int((Double(h.usedBytes) * 100 / Double(h.capacityBytes)).rounded()))%)" : ""
        out.append("\(address.map { "tmemd at \($0)" } ?? "the host"): capacity \(formatByteCount(h.capacityBytes)) "
            + "(\(describeCapacitySetting(h.capacitySetting))); \(formatByteCount(h.usedBytes)) used\(percent), "
            + "\(formatByteCount(h.storedBytes)) stored, \(formatByteCount(h.memoryBytes)) of memory")
        let deduplicated = h.deduplicatedPages > 0
            ? ", \(h.deduplicatedPages) deduplicated (\(formatByteCount(h.dedupSavedBytes)) saved)" : ""
        out.append("\(h.pages) pages (\(h.persistentPages) persistent, \(h.ephemeralPages) ephemeral), \(h.evictedPages) evicted\(deduplicated); "
            + (h.draining ? "DRAINING: every client is asked to repatriate its persistent pages" : "not draining"))
        let rows = snapshot.clients.filter { !hiding($0) }
        guard !rows.isEmpty || h.sharedPools > 0 else {
            out.append("no client sessions")
            return out
        }
        let headers = ["NAME", "SESSION", "POOLS", "PAGES", "PERSISTENT", "ORIG", "COMPR", "USED", "WEIGHT", "CAP", "SHARE",
                       "REFUSED", "EVICTED", "SHRINKS"]
        var cells: [[String]] = rows.map { r in
            [r.name, "\(r.session)", "\(r.pools)", "\(r.storedPages)", "\(r.persistentPages)", formatByteCount(r.originalBytes),
             formatByteCount(r.compressedBytes), formatByteCount(r.usedBytes), "\(r.weight)", r.cap.map(formatByteCount) ?? "-",
             formatByteCount(r.share), "\(r.refusedPuts)", "\(r.evictedPages)", "\(r.shrinkNotices)"]
        }
        if h.sharedPools > 0 {
            cells.append(["(shared)", "-", "\(h.sharedPools)", "\(h.sharedPages)", "0", formatByteCount(h.sharedPages * pageSize),
                          formatByteCount(h.sharedStoredBytes), formatByteCount(h.sharedUsedBytes), "-", "-", "-", "-", "-", "-"])
        }
        out += alignedColumns(headers: headers, rows: cells, leftAligned: [0])
        let refused = rows.filter { $0.refusedPuts > 0 }.map { row in
            row.name + " " + row.refusals.filter { $0.count > 0 }.map { "\(shortReason($0.reason)) \($0.count)" }.joined(separator: ", ")
        }
        if !refused.isEmpty { out.append("refused puts: " + refused.joined(separator: "; ")) }
        return out + cleancacheLines(h.cleancache, rows: rows)
    }

    /// The cleancache section: the host's counters since it started, then a row per session with
    /// ephemeral pools or counts (POOLS: its ephemeral pools, shared ones included), under the kernel's
    /// names; none when `host` is nil (an older host) or counted nothing and has no ephemeral pool.
    static func cleancacheLines(_ host: CleancacheStatistics?, rows: [StatsSnapshot.ClientRow]) -> [String] {
        guard let host, host.isActive else { return [] }
        var out = ["cleancache: \(host.pools) ephemeral pool\(host.pools == 1 ? "" : "s"); \(host.succGets) succ_gets, "
            + "\(host.failedGets) failed_gets\(hitRatio(host).map { " (\($0)% hits)" } ?? ""), \(host.puts) puts, "
            + "\(host.invalidates) invalidates, \(host.evictedPages) evicted_pages"]
        let active = rows.compactMap { row in row.cleancache.flatMap { $0.isActive ? (row, $0) : nil } }
        guard !active.isEmpty else { return out }
        let headers = ["NAME", "SESSION", "POOLS", "SUCC_GETS", "FAILED_GETS", "HIT%", "PUTS", "INVALIDATES", "EVICTED_PAGES"]
        let cells = active.map { row, c in
            [row.name, "\(row.session)", "\(c.pools)", "\(c.succGets)", "\(c.failedGets)", hitRatio(c).map(String.init) ?? "-",
             "\(c.puts)", "\(c.invalidates)", "\(c.evictedPages)"]
        }
        out += alignedColumns(headers: headers, rows: cells, leftAligned: [0])
        return out
    }

    /// Successful gets in percent of all gets, rounded; nil before the first get.
    static func hitRatio(_ c: CleancacheStatistics) -> Int? {
        let gets = c.succGets + c.failedGets
        return gets > 0 ? Int((Double(c.succGets) * 100 / Double(gets)).rounded()) : nil
    }

    /// STATS's capacity setting for people: `25%` → "25% of RAM", `auto:67108864` → "auto, floor 64.0 MiB",
    /// a byte count → "fixed".
    static func describeCapacitySetting(_ setting: String) -> String {
        if setting.hasSuffix("%") { return setting + " of RAM" }
        if setting.hasPrefix("auto:"), let floor = Int(setting.dropFirst(5)) { return "auto, floor \(formatByteCount(floor))" }
        if Int(setting) != nil { return "fixed" }
        return setting
    }

    /// A refusal reason without the `refused_` every put refusal's name starts with.
    static func shortReason(_ reason: String) -> String {
        reason.hasPrefix("refused_") ? String(reason.dropFirst("refused_".count)) : reason
    }
}

/// Lays out rows under headers, each column as wide as its widest cell, two spaces apart; columns are
/// right-aligned (numbers) except those in `leftAligned` (names). Trailing spaces are trimmed.
///
/// - Parameters:
///   - headers: The column titles.
///   - rows: The cells; each row has as many as `headers`.
///   - leftAligned: The indices of left-aligned columns.
/// - Returns: The header line, then one line per row.
func alignedColumns(headers: [String], rows: [[String]], leftAligned: Set<Int>) -> [String] {
    precondition(rows.allSatisfy { $0.count == headers.count }, "every row has a cell per column")
    let widths = headers.indices.map { column in rows.reduce(headers[column].count) { max($0, $1[column].count) } }
    func line(_ cells: [String]) -> String {
        var text = ""
        for (column, cell) in cells.enumerated() {
            let pad = String(repeating: " ", count: widths[column] - cell.count)
            if column > 0 { text += "  " }
            text += leftAligned.contains(column) ? cell + pad : pad + cell
        }
        while text.last == " " { text.removeLast() }
        return text
    }
    return [line(headers)] + rows.map(line)
}
