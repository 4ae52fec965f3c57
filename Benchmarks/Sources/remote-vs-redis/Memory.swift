// remote-vs-redis: what each server says the corpus costs it — tmemd's STATS `host` object (pool and
// metadata bytes; its key names are not settled, so they are matched loosely) and Redis's `INFO memory`
// `used_memory` — plus the resident-set growth of either process, the fallback that needs no cooperation.
#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// tmemd's own account of its memory, read from the STATS reply's `host` object.
struct TmemHostMemory {
    /// Every numeric field of `host`, flattened (`a.b` for nested objects), in the order found.
    var fields: [(key: String, value: Int)] = []
    /// What the store really spends (`memory_bytes`): allocator spans and tables, page tables,
    /// fragmentation included. The figure to hold against Redis's `used_memory`.
    var memoryBytes: Int?
    /// What the host charges for its pages (`used_bytes`): stored bytes plus a metadata charge per page,
    /// the unit of capacity and shares.
    var usedBytes: Int?
    /// The pages' stored (compressed) bytes (`stored_bytes`).
    var storedBytes: Int?
    /// The pool's and the metadata's bytes, if a host reports them apart instead.
    var poolBytes: Int?
    var metadataBytes: Int?
    /// Whether the JSON could be read at all.
    var parsed = false

    /// The host's memory for what it stores: `memory_bytes`, else `used_bytes`, else pool plus
    /// metadata, else nil.
    var totalBytes: Int? { memoryBytes ?? usedBytes ?? poolBytes.map { $0 + (metadataBytes ?? 0) } }

    /// Reads `host` from the STATS JSON. Never throws: anything unreadable leaves the figures nil.
    ///
    /// Keys are matched whole, ignoring case, `_`, `-` and the `.` of nesting (`memory_bytes`,
    /// `memoryBytes` and `{"memory": {"bytes": …}}` are one key), so a figure of a sub-account such as
    /// `shared.used_bytes` is never taken for the host's. Capacity is listed but never taken as memory.
    init(statsJSON: [UInt8]) {
        guard case .object(let object)? = try? JSONDecoder().decode(JSONValue.self, from: Data(statsJSON)),
            case .object(let host)? = object["host"]
        else { return }
        parsed = true
        flatten(host, prefix: "")
        func normalized(_ key: String) -> String {
            key.lowercased().filter { $0 != "_" && $0 != "-" && $0 != "." }
        }
        let byName = fields.map { (normalized($0.key), $0.value) }
        func field(_ names: String...) -> Int? { byName.first { names.contains($0.0) }?.1 }
        memoryBytes = field("memorybytes", "memory", "memoryusedbytes")
        usedBytes = field("usedbytes", "used")
        storedBytes = field("storedbytes", "stored")
        poolBytes = field("poolbytes", "zpoolbytes", "pool")
        metadataBytes = field("metadatabytes", "metabytes", "metadata")
    }

    private mutating func flatten(_ object: [String: JSONValue], prefix: String) {
        for key in object.keys.sorted() {
            let name = prefix.isEmpty ? key : "\(prefix).\(key)"
            switch object[key] {
            case .object(let nested)?: flatten(nested, prefix: name)
            case .number(let number)?: fields.append((name, Int(exactly: number.rounded()) ?? 0))
            default: continue
            }
        }
    }

    /// `key=value` for every field, for the table.
    var summary: String {
        guard parsed else { return "STATS JSON unreadable" }
        return fields.isEmpty
            ? "no numeric fields in host" : fields.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    }
}

/// Any JSON value; numbers as Double (byte counts below 2^53 are exact).
enum JSONValue: Decodable {
    case object([String: JSONValue])
    case array([JSONValue])
    case number(Double)
    case string(String)
    case bool(Bool)
    case null

    init(from decoder: any Decoder) throws {
        let value = try decoder.singleValueContainer()
        if value.decodeNil() {
            self = .null
        } else if let b = try? value.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? value.decode(Double.self) {
            self = .number(n)
        } else if let s = try? value.decode(String.self) {
            self = .string(s)
        } else if let a = try? value.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try value.decode([String: JSONValue].self))
        }
    }
}

/// A field of Redis's `INFO` text (`name:value` lines), as an integer.
func redisInfoField(_ info: String, _ name: String) -> Int? {
    for line in info.split(whereSeparator: { $0.isNewline }) where line.hasPrefix(name + ":") {
        return Int(line.dropFirst(name.count + 1))
    }
    return nil
}

/// Redis's `used_memory` now.
///
/// - Throws: `BenchError` if INFO fails or lacks the field.
func redisUsedMemory(_ socket: Socket) throws -> Int {
    let reply = try RESP.call(["INFO", "memory"], on: socket)
    guard let text = reply.text, let used = redisInfoField(text, "used_memory") else {
        throw BenchError("redis-server's INFO memory has no used_memory: \(reply)")
    }
    return used
}

/// One server's memory figures for the corpus, taken after the single-connection puts.
struct MemoryFigures {
    /// tmemd: pool + metadata from STATS (nil if STATS named neither). Redis: `used_memory`.
    var serverReported: Int?
    /// The same figure before the puts (tmemd's empty pool, Redis's empty keyspace).
    var serverReportedBefore: Int?
    /// VmRSS after minus before the puts.
    var rssGrowth: Int?
    /// tmemd's STATS `host` fields, for the table.
    var tmemHost: TmemHostMemory?

    var serverReportedGrowth: Int? {
        guard let after = serverReported, let before = serverReportedBefore else { return nil }
        return after - before
    }
}

/// Bytes as MiB with two decimals.
func mebibytes(_ bytes: Int?) -> String {
    guard let bytes else { return "n/a" }
    return fixed2(Double(bytes) / 1_048_576) + " MiB"
}
