extension HostStatistics {
    /// The statistics as the STATS JSON of docs/PROTOCOL.md: an object with `host` (its totals and the
    /// `shared` account) and `clients` (one object per session). Keys are snake case and always present,
    /// in a fixed order (a missing cap or shrink target is `null`), so that consumers may rely on them.
    ///
    /// ```json
    /// {"host":{"capacity_bytes":1073741824,"capacity_setting":"auto:67108864","used_bytes":...,
    ///  "stored_bytes":...,"memory_bytes":...,"pages":...,"persistent_pages":...,"ephemeral_pages":...,
    ///  "evicted_pages":...,"draining":false,"sessions":2,"shared":{"pools":...,"pages":...,...}},
    ///  "clients":[{"name":"alice","session":1,"pools":1,"stored_pages":...,"persistent_pages":...,
    ///  "original_bytes":...,"compressed_bytes":...,"used_bytes":...,"weight":1,"cap":null,"share":...,
    ///  "refusals":{"refused_capacity":0,...},"evicted_pages":0,"shrink_notices":0,"shrink_target_pages":null,
    ///  "cleancache":{"pools":0,"succ_gets":0,"failed_gets":0,"puts":0,"invalidates":0,"evicted_pages":0}}]}
    /// ```
    ///
    /// `host` has a `cleancache` object too (after `shared`): the same counters over every session since
    /// the host started, and the ephemeral pools open now. Both were added after the first version of
    /// STATS; a reader should take a missing one as "not counted" rather than fail.
    public var json: String {
        var w = JSONWriter()
        w.object { w in
            w.key("host")
            w.object { w in
                w.field("capacity_bytes", capacityBytes)
                w.field("capacity_setting", capacitySetting.description)
                w.field("used_bytes", usedBytes)
                w.field("stored_bytes", storedBytes)
                w.field("memory_bytes", memoryBytes)
                w.field("pages", pages)
                w.field("persistent_pages", persistentPages)
                w.field("ephemeral_pages", ephemeralPages)
                w.field("evicted_pages", evictedPages)
                w.field("deduplicated_pages", deduplicatedPages)
                w.field("dedup_saved_bytes", dedupSavedBytes)
                w.field("draining", draining)
                w.field("sessions", clients.count)
                w.key("shared")
                w.object { w in
                    w.field("pools", shared.pools)
                    w.field("pages", shared.pages)
                    w.field("stored_bytes", shared.storedBytes)
                    w.field("used_bytes", shared.usedBytes)
                    w.field("weight", shared.weight)
                    w.field("cap", shared.cap)
                    w.field("share", shared.share)
                    w.field("evicted_pages", shared.evictedPages)
                }
                w.key("cleancache")
                cleancache.write(into: &w)
            }
            w.key("clients")
            w.array(clients) { w, row in
                w.object { w in
                    w.field("name", row.name)
                    w.field("session", Int(truncatingIfNeeded: row.session))
                    w.field("pools", row.pools)
                    w.field("stored_pages", row.storedPages)
                    w.field("persistent_pages", row.persistentPages)
                    w.field("original_bytes", row.originalBytes)
                    w.field("compressed_bytes", row.compressedBytes)
                    w.field("used_bytes", row.usedBytes)
                    w.field("weight", row.weight)
                    w.field("cap", row.cap)
                    w.field("share", row.share)
                    w.key("refusals")
                    w.object { w in
                        for status in RefusalCounts.reported { w.field(status.name, row.refusals[status]) }
                    }
                    w.field("evicted_pages", row.evictedPages)
                    w.field("shrink_notices", row.shrinkNotices)
                    w.field("shrink_target_pages", row.shrinkTargetPages)
                    w.key("cleancache")
                    row.cleancache.write(into: &w)
                }
            }
        }
        return w.text
    }
}

extension CleancacheStatistics {
    /// The counters as a STATS object: `pools`, then the kernel's names.
    func write(into w: inout JSONWriter) {
        w.object { w in
            w.field("pools", pools)
            for (name, value) in namedValues { w.field(name, value) }
        }
    }
}

extension Host {
    /// ``statistics()`` as the STATS JSON (``HostStatistics/json``).
    public func statisticsJSON() -> String { statistics().json }
}

/// Writes compact JSON: objects, arrays, integers, booleans, strings and null, with commas where due.
struct JSONWriter {
    private(set) var text = ""
    private var needsComma = false

    mutating func object(_ body: (inout JSONWriter) -> Void) {
        separate()
        text += "{"
        needsComma = false
        body(&self)
        text += "}"
        needsComma = true
    }

    mutating func array<T>(_ elements: [T], _ body: (inout JSONWriter, T) -> Void) {
        separate()
        text += "["
        needsComma = false
        for element in elements { body(&self, element) }
        text += "]"
        needsComma = true
    }

    mutating func key(_ name: String) {
        separate()
        text += Self.quoted(name) + ":"
        needsComma = false
    }

    mutating func field(_ name: String, _ value: Int?) {
        key(name)
        text += value.map(String.init) ?? "null"
        needsComma = true
    }

    mutating func field(_ name: String, _ value: Bool) {
        key(name)
        text += value ? "true" : "false"
        needsComma = true
    }

    mutating func field(_ name: String, _ value: String) {
        key(name)
        text += Self.quoted(value)
        needsComma = true
    }

    private mutating func separate() {
        if needsComma { text += "," }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped.
    static func quoted(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
