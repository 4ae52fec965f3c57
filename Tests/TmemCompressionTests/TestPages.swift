import Testing
import Tmem
import TmemCompression

/// The page size every test here uses, as the kernel's on x86-64 and arm64 (4 KiB pages).
let pageSize = 4096

/// zram's "huge page" rule: an object larger than 3/4 of a page is not worth storing compressed.
let poorCompressionThreshold = pageSize * 3 / 4

/// The kinds of page a swap stream carries, from most to least compressible.
enum PageKind: String, CaseIterable, CustomTestStringConvertible {
    /// All zero bytes (zram's same-filled page with value 0).
    case zero
    /// One non-zero 8-byte word repeated (zram's other same-filled pages).
    case sameFilledWord
    /// Log-like ASCII text: compresses about 2-4x.
    case textLike
    /// Uniform random bytes: incompressible.
    case random

    var testDescription: String { rawValue }

    /// The seed each generated page uses; printed in the test name via the kind.
    static let seed: UInt64 = 0x746D_656D  // "tmem"

    /// Builds one page of this kind, the same bytes for the same `variant`.
    func page(variant: UInt64 = 0) -> [UInt8] {
        var rng = SeededGenerator(seed: Self.seed &+ variant)
        switch self {
        case .zero:
            return [UInt8](repeating: 0, count: pageSize)
        case .sameFilledWord:
            let word = 0xDEAD_BEEF_0BAD_F00D &+ variant
            return (0..<pageSize).map { UInt8(truncatingIfNeeded: word >> (8 * UInt64($0 % 8))) }
        case .textLike:
            let words = ["store", "load", "page", "swap", "slot", "offset", "pool", "zram", "ok", "refused", "42"]
            var text: [UInt8] = []
            text.reserveCapacity(pageSize + 16)
            while text.count < pageSize {
                text += Array(words[Int(rng.next() % UInt64(words.count))].utf8)
                text.append(rng.next() % 8 == 0 ? 0x0A : 0x20)
            }
            return Array(text.prefix(pageSize))
        case .random:
            return (0..<pageSize).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        }
    }
}

/// Compresses `page` into a buffer of `capacity` bytes; `nil` if it does not fit.
func compressed(_ page: [UInt8], with compressor: inout PageCompressor, capacity: Int) -> [UInt8]? {
    var buffer = [UInt8](repeating: 0, count: capacity)
    let length = page.withUnsafeBytes { source in
        buffer.withUnsafeMutableBytes { destination in compressor.compress(source, into: destination) }
    }
    return length.map { Array(buffer.prefix($0)) }
}

/// Decompresses `object` into a fresh buffer of `count` bytes, rethrowing the compressor's error.
func decompressed(_ object: [UInt8], with compressor: inout PageCompressor, count: Int = pageSize) throws -> [UInt8] {
    var page = [UInt8](repeating: 0xA5, count: count)
    try object.withUnsafeBytes { source in
        try page.withUnsafeMutableBytes { destination in try compressor.decompress(source, into: destination) }
    }
    return page
}

/// Runs `body` with a destination of `count` bytes placed between two 64-byte canaries, and
/// reports whether the canaries survived: proof that the call wrote nothing outside `dst`.
func withGuardedDestination(count: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) -> Bool {
    let guardSize = 64
    var storage = [UInt8](repeating: 0xC3, count: guardSize + count + guardSize)
    storage.withUnsafeMutableBytes { all in
        body(UnsafeMutableRawBufferPointer(rebasing: all[guardSize..<(guardSize + count)]))
    }
    return storage.prefix(guardSize).allSatisfy { $0 == 0xC3 } && storage.suffix(guardSize).allSatisfy { $0 == 0xC3 }
}
