import Synchronization
import Tmem
import TmemCompression
import TmemTestKit
@testable import TmemHost

/// A machine's memory figures the test sets by hand, for hosts with `auto` or percent capacities.
final class ManualMemory: Sendable {
    let figures: Mutex<MemorySnapshot?>

    init(total: Int = 16 << 30, available: Int = 8 << 30, pressure: Double? = nil) {
        figures = Mutex(MemorySnapshot(totalBytes: total, availableBytes: available, pressureSomeAvg10: pressure))
    }

    var probe: MemoryProbe { MemoryProbe { self.figures.withLock { $0 } } }

    func set(available: Int? = nil, pressure: Double?? = nil) {
        figures.withLock { figures in
            if let available { figures?.availableBytes = available }
            if let pressure { figures?.pressureSomeAvg10 = pressure }
        }
    }
}

/// A host with a fixed capacity in charged bytes and the given policies.
func makeHost(
    capacity: Int, clients: [String: ClientPolicy] = [:], defaultPolicy: ClientPolicy = ClientPolicy(),
    maxPoolsPerSession: Int = 256
) throws -> Host {
    try Host(
        configuration: HostConfiguration(
            capacity: .bytes(capacity), clients: clients, defaultPolicy: defaultPolicy,
            maxPoolsPerSession: maxPoolsPerSession),
        memory: .fixed(MemorySnapshot(totalBytes: 16 << 30, availableBytes: 8 << 30)))
}

/// A page that names its key in its first 16 bytes (so a page returned under the wrong key is caught),
/// the rest of the given kind.
func page(_ kind: PageKind, tag: UInt64, _ rng: inout SeededGenerator) -> [UInt8] {
    var bytes = kind.makePage(using: &rng)
    if kind != .zero && kind != .sameFilled {
        withUnsafeBytes(of: tag) { for (i, b) in $0.enumerated() { bytes[i] = b } }
        withUnsafeBytes(of: ~tag) { for (i, b) in $0.enumerated() { bytes[8 + i] = b } }
    }
    return bytes
}

extension Host {
    func put(_ s: Session, _ pool: UInt32, _ object: UInt64, _ index: UInt32, _ bytes: [UInt8], compressed: Bool = false)
        -> HostStatus
    {
        bytes.withUnsafeBytes { put(s, pool: pool, object: object, index: index, payload: $0, compressed: compressed) }
    }

    /// The page under a key: its bytes on a hit (decompressed if it came as a block), nil on a miss.
    func page(_ s: Session, _ pool: UInt32, _ object: UInt64, _ index: UInt32) throws -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: pageSize)
        let result = out.withUnsafeMutableBytes {
            get(s, pool: pool, object: object, index: index, into: $0, acceptCompressed: false)
        }
        switch result {
        case .page: return out
        case .miss: return nil
        case .compressed, .failed: throw HostTestFailure("get of (\(pool), \(object), \(index)) gave \(result)")
        }
    }

    func pool(_ s: Session, ephemeral: Bool, shared: PoolUUID? = nil) throws -> UInt32 {
        let (status, pool) = createPool(s, ephemeral: ephemeral, sharedUUID: shared)
        guard status == .ok else { throw HostTestFailure("createPool gave \(status)") }
        return pool
    }

    /// A client name's totals over its sessions' rows.
    func row(_ name: String) -> (used: Int, pages: Int, persistentPages: Int, share: Int, refusals: [HostStatus: Int]) {
        let rows = statistics().clients.filter { $0.name == name }
        var refusals: [HostStatus: Int] = [:]
        for status in RefusalCounts.reported { refusals[status] = rows.reduce(0) { $0 + $1.refusals[status] } }
        return (
            rows.reduce(0) { $0 + $1.usedBytes }, rows.reduce(0) { $0 + $1.storedPages },
            rows.reduce(0) { $0 + $1.persistentPages }, rows.first?.share ?? 0, refusals
        )
    }
}

struct HostTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// LZ4 block of a page, as a client compresses it (nil when it would not fit in a page).
func lz4Block(_ page: [UInt8]) throws -> [UInt8]? {
    var compressor = try PageCompressor(algorithm: .lz4)
    var out = [UInt8](repeating: 0, count: pageSize)
    let n = page.withUnsafeBytes { src in out.withUnsafeMutableBytes { compressor.compress(src, into: $0) } }
    return n.map { Array(out[0..<$0]) }
}

/// One page's charge at most (a page kept whole plus its metadata charge).
let pageCharge = pageSize + 16
