// remote-vs-redis: the readable tables (one per transport) and the one-line JSON summary printed last.

/// Everything measured over one transport.
struct TransportFigures {
    var tmem: SideFigures?
    var redis: SideFigures?
    /// tmemd again, with pages LZ4-compressed by the client (`--client-compression`).
    var tmemCompressed: SideFigures?
}

struct Report {
    let pages: Int
    let plan: RunPlan
    var figures: [Transport: TransportFigures] = [:]

    /// The table of one transport: per phase, each server's rate and latency, then the memory lines.
    func table(_ transport: Transport) -> String {
        guard let f = figures[transport] else { return "" }
        let c = "\(plan.connections)x\(f.tmem?.depth16 ?? plan.depth)"
        var out = "\n== \(transport.label): \(pages) pages of 4 KiB ==\n"
        out +=
            pad("phase", 26) + pad("tmemd ops/s", 13, right: true) + pad("p50 us", 9, right: true)
            + pad("p99 us", 9, right: true) + "  |" + pad("redis ops/s", 13, right: true)
            + pad("p50 us", 9, right: true)
            + pad("p99 us", 9, right: true) + "  | tmemd/redis\n"
        let rows: [(String, KeyPath<SideFigures, PhaseResult>)] = [
            ("put, 1 conn, sync", \.put1c), ("get, 1 conn, sync", \.get1c),
            ("put, \(c) pipelined", \.put16), ("get, \(c) pipelined", \.get16),
        ]
        for (name, path) in rows {
            let t = f.tmem?[keyPath: path]
            let r = f.redis?[keyPath: path]
            out += pad(name, 26) + cells(t) + "  |" + cells(r) + "  | "
            if let t, let r, r.opsPerSecond > 0 {
                out += fixed2(t.opsPerSecond / r.opsPerSecond) + "x"
            } else {
                out += "-"
            }
            out += "\n"
        }
        if let t = f.tmemCompressed {
            for (name, path) in rows {
                out += pad("lz4 " + name, 26) + cells(t[keyPath: path]) + "  |  (tmemd only, client-compressed puts)\n"
            }
        }
        out += "latency: per request, from the write that sent it to its reply; 16x16 replies are read with poll\n"
        for (name, side) in [("tmemd", f.tmem), ("redis", f.redis)] {
            guard let side else { continue }
            out += "\(name) syscalls per request (write/read/poll):"
            for phase in [side.put1c, side.get1c, side.put16, side.get16] {
                let n = Double(max(phase.requests, 1))
                out +=
                    " \(phase.op) \(fixed2(Double(phase.writes) / n))/\(fixed2(Double(phase.reads) / n))/\(fixed2(Double(phase.polls) / n))"
            }
            out += "\n"
        }
        if let t = f.tmem {
            let m = t.memory
            out += "tmemd memory for the corpus: STATS \(mebibytes(m.serverReported))"
            if let host = m.tmemHost {
                out +=
                    " (memory_bytes \(mebibytes(host.memoryBytes)); charged used_bytes \(mebibytes(host.usedBytes)), "
                    + "compressed stored_bytes \(mebibytes(host.storedBytes)))"
            }
            out += "; VmRSS growth \(mebibytes(m.rssGrowth))\n"
            out += "  STATS host: \(m.tmemHost?.summary ?? "n/a")\n"
            if let tc = f.tmemCompressed {
                out +=
                    "  with client compression: STATS \(mebibytes(tc.memory.serverReported)), "
                    + "\(tc.put1c.compressedRequests) of \(tc.put1c.requests) puts sent as LZ4 blocks\n"
            }
        }
        if let r = f.redis {
            out +=
                "redis memory for the corpus: used_memory \(mebibytes(r.memory.serverReported)) "
                + "(growth \(mebibytes(r.memory.serverReportedGrowth))); VmRSS growth \(mebibytes(r.memory.rssGrowth))\n"
        }
        out += "corpus bytes: \(mebibytes(pages * 4096))\n"
        for (name, side) in [("tmemd", f.tmem), ("redis", f.redis), ("tmemd lz4", f.tmemCompressed)] {
            guard let side else { continue }
            for (label, path) in rows {
                let phase = side[keyPath: path]
                guard phase.refusals + phase.mismatches > 0 else { continue }
                out +=
                    "\(name) \(label): \(phase.mismatches) mismatches (\(phase.misses) misses, \(phase.damaged) damaged), "
                    + "\(phase.refusals) refusals\(phase.firstRefusal.map { ", first: " + $0 } ?? "")\n"
            }
        }
        return out
    }

    private func cells(_ phase: PhaseResult?) -> String {
        guard let phase else { return pad("-", 13, right: true) + pad("-", 9, right: true) + pad("-", 9, right: true) }
        return pad(String(Int(phase.opsPerSecond.rounded())), 13, right: true)
            + pad(fixed2(phase.p50Micros), 9, right: true) + pad(fixed2(phase.p99Micros), 9, right: true)
    }

    private func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, width - text.count))
        return right ? fill + text : text + fill
    }

    /// Every mismatch of every server over every transport.
    var totalMismatches: Int {
        figures.values.reduce(0) { sum, f in
            sum + (f.tmem?.mismatches ?? 0) + (f.redis?.mismatches ?? 0) + (f.tmemCompressed?.mismatches ?? 0)
        }
    }

    /// One JSON object; keys of a server that did not run are null.
    func json(placement: String, redisVersion: String?) -> String {
        var pairs: [(String, String)] = [("pages", "\(pages)")]
        func number(_ v: Double?) -> String { v.map { fixed2($0) } ?? "null" }
        func integer(_ v: Int?) -> String { v.map { String($0) } ?? "null" }
        for transport in Transport.allCases {
            let f = figures[transport] ?? TransportFigures()
            let s = transport.suffix
            let t = f.tmem
            let r = f.redis
            pairs += [
                ("tmem_put_1c_ops" + s, number(t?.put1c.opsPerSecond)),
                ("tmem_get_1c_ops" + s, number(t?.get1c.opsPerSecond)),
                ("redis_set_1c_ops" + s, number(r?.put1c.opsPerSecond)),
                ("redis_get_1c_ops" + s, number(r?.get1c.opsPerSecond)),
                ("tmem_put_1c_p50_us" + s, number(t?.put1c.p50Micros)),
                ("tmem_put_1c_p99_us" + s, number(t?.put1c.p99Micros)),
                ("tmem_get_1c_p50_us" + s, number(t?.get1c.p50Micros)),
                ("tmem_get_1c_p99_us" + s, number(t?.get1c.p99Micros)),
                ("redis_set_1c_p50_us" + s, number(r?.put1c.p50Micros)),
                ("redis_set_1c_p99_us" + s, number(r?.put1c.p99Micros)),
                ("redis_get_1c_p50_us" + s, number(r?.get1c.p50Micros)),
                ("redis_get_1c_p99_us" + s, number(r?.get1c.p99Micros)),
                ("tmem_put_16x16_ops" + s, number(t?.put16.opsPerSecond)),
                ("tmem_get_16x16_ops" + s, number(t?.get16.opsPerSecond)),
                ("redis_set_16x16_ops" + s, number(r?.put16.opsPerSecond)),
                ("redis_get_16x16_ops" + s, number(r?.get16.opsPerSecond)),
                ("tmem_get_16x16_p99_us" + s, number(t?.get16.p99Micros)),
                ("redis_get_16x16_p99_us" + s, number(r?.get16.p99Micros)),
                ("tmem_16x16_depth" + s, integer(t?.depth16)),
                ("tmem_mem_bytes" + s, integer(t.flatMap { $0.memory.serverReported ?? $0.memory.rssGrowth })),
                ("tmem_mem_source" + s, t.map { $0.memory.serverReported != nil ? "\"stats\"" : "\"rss\"" } ?? "null"),
                ("tmem_rss_growth_bytes" + s, integer(t?.memory.rssGrowth)),
                ("redis_used_memory" + s, integer(r?.memory.serverReported)),
                ("redis_used_memory_growth" + s, integer(r?.memory.serverReportedGrowth)),
                ("redis_rss_growth_bytes" + s, integer(r?.memory.rssGrowth)),
                (
                    "mismatches" + s,
                    "\((t?.mismatches ?? 0) + (r?.mismatches ?? 0) + (f.tmemCompressed?.mismatches ?? 0))"
                ),
            ]
            if let tc = f.tmemCompressed {
                pairs += [
                    ("tmem_lz4_put_1c_ops" + s, number(tc.put1c.opsPerSecond)),
                    ("tmem_lz4_get_1c_ops" + s, number(tc.get1c.opsPerSecond)),
                    ("tmem_lz4_put_16x16_ops" + s, number(tc.put16.opsPerSecond)),
                    ("tmem_lz4_get_16x16_ops" + s, number(tc.get16.opsPerSecond)),
                    ("tmem_lz4_mem_bytes" + s, integer(tc.memory.serverReported ?? tc.memory.rssGrowth)),
                ]
            }
        }
        pairs.append(("redis_version", redisVersion.map { "\"\($0)\"" } ?? "null"))
        pairs.append(("placement", "\"\(placement)\""))
        return "{" + pairs.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
    }
}
