import Tmem
import TmemFrontswap
import TmemSwapFile
import TmemTestKit

/// A frontswap over a backend, with one real swap file per area in a temporary directory.
final class Fixture {
    let directory = TemporaryDirectory(prefix: "tmem-frontswap")
    let frontswap: Frontswap
    private(set) var devices: [SwapArea: any BackingDevice] = [:]

    init(backend: any Backend, exclusiveLoads: Bool = false, reclaimer: Reclaimer? = nil) {
        frontswap = Frontswap(
            backend: backend, configuration: .init(exclusiveLoads: exclusiveLoads), reclaimer: reclaimer)
    }

    /// Initialises an area over a new swap file (or over `device`).
    @discardableResult
    func initArea(_ area: Int, pages: Int, device: (any BackingDevice)? = nil) throws -> any BackingDevice {
        let id = SwapArea(area)
        let dev = try device ?? devices[id] ?? SwapFile(path: directory.file("swap.\(area)"), slots: pages)
        devices[id] = dev
        try frontswap.initArea(id, pages: pages, device: dev)
        return dev
    }

    func store(_ area: Int, _ offset: Int, _ bytes: [UInt8]) throws -> StoreResult {
        try bytes.withUnsafeBytes { try frontswap.store(SwapArea(area), offset: PageOffset(offset), page: $0) }
    }

    func load(_ area: Int, _ offset: Int) throws -> (LoadResult, [UInt8]) {
        var bytes = [UInt8](repeating: 0xEE, count: pageSize)
        let result = try bytes.withUnsafeMutableBytes {
            try frontswap.load(SwapArea(area), offset: PageOffset(offset), into: $0)
        }
        return (result, bytes)
    }
}

/// A page whose bytes name it: `tag` repeated through a text-like pattern, so mix-ups show.
func page(_ tag: Int, kind: PageKind = .textLike) -> [UInt8] {
    var rng = SeededGenerator(seed: UInt64(tag) &* 7919 &+ 1)
    var bytes = kind.makePage(using: &rng)
    if kind != .zero && kind != .sameFilled {
        withUnsafeBytes(of: UInt64(tag)) { for (i, b) in $0.enumerated() { bytes[i] = b } }
    }
    return bytes
}
