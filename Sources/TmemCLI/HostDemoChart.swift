import Tmem

/// What `tmem host-demo` knows of one client at a moment: the host's view (its sessions' rows summed)
/// and the latest status line of its process.
struct DemoClientView: Equatable {
    var name: String
    var weight: Int
    /// Charged bytes its sessions hold at the host.
    var usedBytes = 0
    /// Its weighted share of the capacity now.
    var shareBytes = 0
    /// Puts the host refused it, every reason.
    var refusedPuts = 0
    /// Shrink notices the host sent it.
    var shrinkNotices = 0
    /// Pages its frontswap repatriated to its swap file (from its status line).
    var repatriatedPages = 0
    /// Stores that went to its swap file because the host refused them (from its status line).
    var diskStores = 0

    /// The view from a host snapshot and the client's status line.
    ///
    /// - Parameters:
    ///   - name: The client's name.
    ///   - weight: Its weight (used when the host has no session of it yet).
    ///   - snapshot: The host's statistics.
    ///   - status: The `key=value` fields of its last status line.
    init(name: String, weight: Int, snapshot: StatsSnapshot, status: [String: Int]) {
        self.name = name
        self.weight = weight
        for row in snapshot.clients where row.name == name {
            usedBytes += row.usedBytes
            shareBytes = row.share
            refusedPuts += row.refusedPuts
            shrinkNotices += row.shrinkNotices
            self.weight = row.weight
        }
        repatriatedPages = status["repatriated"] ?? 0
        diskStores = status["disk"] ?? 0
    }
}

/// The once-a-second chart of `tmem host-demo`: a line on the host, then one bar per client showing
/// the memory it uses against its weighted share.
///
/// A bar is ``width`` cells, each `scaleBytes / width` bytes: `#` used within the share, `+` used above
/// it, `.` share not used; a bar longer than the width ends in `>`.
///
/// ```
/// [ 4s] capacity 8.0 MiB, 7.9 MiB used (99%), 9000 pages
///   c1 w1  ######..                                   1.1 MiB of 1.1 MiB  refused   310  shrinks  0  repatriated     0
///   c3 w4  ##################################.....    4.2 MiB of 4.5 MiB  refused    12  shrinks  0  repatriated     0
/// ```
enum HostDemoChart {
    /// Cells in a bar.
    static let width = 40

    /// The legend, printed once before the first chart.
    ///
    /// - Parameter scaleBytes: What a full bar stands for.
    static func legend(scaleBytes: Int) -> String {
        "bars: # used within the client's weighted share, + used above it, . share not used (while the host has "
            + "room, a share is what the client holds); a full bar is \(formatByteCount(scaleBytes)), "
            + "one cell \(formatByteCount(max(1, scaleBytes / width)))"
    }

    /// The chart's lines for one moment.
    ///
    /// - Parameters:
    ///   - seconds: Seconds since the clients started.
    ///   - snapshot: The host's statistics.
    ///   - clients: One view per client, in the order to show them.
    ///   - scaleBytes: What a full bar stands for (fixed for the run, so bars compare across lines).
    ///   - note: Said after the host's line (such as the capacity change), or nil.
    static func lines(seconds: Int, snapshot: StatsSnapshot, clients: [DemoClientView], scaleBytes: Int, note: String?)
        -> [String]
    {
        let h = snapshot.host
        let percent = h.capacityBytes > 0 ? Int((Double(h.usedBytes) * 100 / Double(h.capacityBytes)).rounded()) : 0
        var out = ["[\(pad(seconds, 2))s] capacity \(formatByteCount(h.capacityBytes)), \(formatByteCount(h.usedBytes)) used "
            + "(\(percent)%), \(h.pages) pages" + (note.map { "; \($0)" } ?? "")]
        let nameWidth = clients.map { $0.name.count + 2 + "\($0.weight)".count }.max() ?? 0
        for c in clients {
            let label = "\(c.name) w\(c.weight)"
            out.append("  " + label + String(repeating: " ", count: nameWidth - label.count) + "  "
                + bar(used: c.usedBytes, share: c.shareBytes, scale: scaleBytes) + "  "
                + "\(formatByteCount(c.usedBytes)) of \(formatByteCount(c.shareBytes))  refused \(pad(c.refusedPuts, 5))  "
                + "shrinks \(pad(c.shrinkNotices, 2))  repatriated \(pad(c.repatriatedPages, 6))")
        }
        return out
    }

    /// One bar: `used` against `share`, a full bar being `scale` bytes.
    static func bar(used: Int, share: Int, scale: Int) -> String {
        func cells(_ bytes: Int) -> Int { scale > 0 ? Int((Double(bytes) * Double(width) / Double(scale)).rounded()) : 0 }
        let u = cells(used), s = cells(share)
        var text = ""
        for i in 0..<width {
            text += i < min(u, s) ? "#" : i < u ? "+" : i < s ? "." : " "
        }
        if max(u, s) > width { text.removeLast(); text += ">" }
        return text
    }

    /// `value` right-aligned in `width` columns.
    static func pad(_ value: Int, _ width: Int) -> String {
        let text = "\(value)"
        return String(repeating: " ", count: max(0, width - text.count)) + text
    }
}
