/// Formats benchmark results: a side-by-side table for people, one JSON object for scripts.
public enum BenchReport {
    /// The table: one row per figure, Tmem's column first, then each baseline with Tmem's ratio to it.
    ///
    /// - Parameters:
    ///   - tmem: Tmem's results.
    ///   - baselines: zram's and raw's, as measured.
    /// - Returns: Lines of text.
    public static func table(_ tmem: SystemResult, _ baselines: [SystemResult]) -> [String] {
        let rows: [(String, (SystemResult) -> Double, Bool)] = [
            ("store pages/s", { $0.store.pagesPerSecond }, false),
            ("store MB/s", { $0.store.megabytesPerSecond }, false),
            ("load seq pages/s", { $0.loadSequential.pagesPerSecond }, false),
            ("load seq MB/s", { $0.loadSequential.megabytesPerSecond }, false),
            ("load rand pages/s", { $0.loadRandom.pagesPerSecond }, false),
            ("load rand MB/s", { $0.loadRandom.megabytesPerSecond }, false),
            ("store p50 us", { Double($0.store.latency.p50) / 1000 }, true),
            ("store p99 us", { Double($0.store.latency.p99) / 1000 }, true),
            ("store p99.9 us", { Double($0.store.latency.p999) / 1000 }, true),
            ("load seq p50 us", { Double($0.loadSequential.latency.p50) / 1000 }, true),
            ("load seq p99 us", { Double($0.loadSequential.latency.p99) / 1000 }, true),
            ("load rand p50 us", { Double($0.loadRandom.latency.p50) / 1000 }, true),
            ("load rand p99 us", { Double($0.loadRandom.latency.p99) / 1000 }, true),
            ("load rand p99.9 us", { Double($0.loadRandom.latency.p999) / 1000 }, true),
            ("compression ratio", { $0.ratio }, false),
            ("mem_used_total MiB", { Double($0.memUsedTotal) / 1_048_576 }, true),
            ("metadata B/page", { $0.metadataBytesPerPage }, true),
            ("mem + metadata MiB", { (Double($0.memUsedTotal) + $0.metadataBytesPerPage * Double($0.store.pages)) / 1_048_576 }, true),
        ]
        var header = pad("", 20) + pad(tmem.name, 12, right: true)
        for b in baselines { header += pad(b.name, 12, right: true) + pad("tmem/\(b.name)", 11, right: true) }
        var lines = [header]
        for (name, value, _) in rows {
            var line = pad(name, 20) + pad(format(value(tmem)), 12, right: true)
            for b in baselines {
                let v = value(b)
                line += pad(format(v), 12, right: true)
                line += pad(v == 0 ? "-" : String(format2(value(tmem) / v)) + "x", 11, right: true)
            }
            lines.append(line)
        }
        return lines
    }

    /// One JSON object: Tmem's figures at the top level, each baseline's in an object under its name.
    public static func json(_ tmem: SystemResult, _ baselines: [SystemResult], notes: [String: String]) -> String {
        var parts = tmem.jsonFields.map { "\"\($0.0)\": \(number($0.1))" }
        parts.append("\"label\": \"\(escape(tmem.label))\"")
        for b in baselines {
            let fields = b.jsonFields.map { "\"\($0.0)\": \(number($0.1))" } + ["\"label\": \"\(escape(b.label))\""]
            parts.append("\"\(b.name)\": {" + fields.joined(separator: ", ") + "}")
        }
        for (key, value) in notes.sorted(by: { $0.key < $1.key }) { parts.append("\"\(key)\": \"\(escape(value))\"") }
        return "{" + parts.joined(separator: ", ") + "}"
    }

    static func number(_ v: Double) -> String {
        guard v.isFinite else { return "null" }
        if v == v.rounded() && abs(v) < 1e15 { return String(Int(v)) }
        return String(format3(v))
    }

    static func format(_ v: Double) -> String {
        if v >= 1000 { return String(Int(v.rounded())) }
        if v >= 10 { return String(format2(v)) }
        return String(format3(v))
    }

    static func format2(_ v: Double) -> Double { (v * 100).rounded() / 100 }
    static func format3(_ v: Double) -> Double { (v * 1000).rounded() / 1000 }

    static func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
        guard s.count < width else { return s + " " }
        let fill = String(repeating: " ", count: width - s.count)
        return right ? fill + s : s + fill
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: if c.value < 0x20 { out += "\\u00" + String(c.value, radix: 16).leftPad(2) } else { out.unicodeScalars.append(c) }
            }
        }
        return out
    }
}

extension String {
    fileprivate func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
