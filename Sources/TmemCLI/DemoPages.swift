import Tmem

/// The demos' page contents: page `p` at version `v` is a function of the seed, `p` and `v` alone, so
/// any page can be regenerated and checked byte for byte without keeping a copy.
///
/// Kinds come in stretches of 16 pages, as in real heaps: 45% text records, 30% numeric arrays, 15%
/// zero-filled, 10% incompressible (``PageKind``), which compresses about 3x with LZ4 overall.
struct DemoPages: Sendable {
    let seed: UInt64

    /// Pages of one kind in a row.
    static let stretch = 16

    /// The kind of page `p`.
    func kind(_ p: Int) -> PageKind {
        var rng = SeededGenerator(seed: seed ^ UInt64(p / Self.stretch) &* 0x9E37_79B9)
        switch rng.next() % 100 {
        case 0..<45: return .textLike
        case 45..<75: return .numeric
        case 75..<90: return .zero
        default: return .random
        }
    }

    /// Writes version `version` of page `p` into `target`.
    ///
    /// - Parameters:
    ///   - p: The page number.
    ///   - version: How often it was written (any value; each gives other bytes).
    ///   - target: One page (4096 bytes).
    func fill(_ p: Int, version: UInt32, into target: UnsafeMutableRawBufferPointer) {
        var rng = SeededGenerator(seed: seed &+ UInt64(p) &* 0x1_0000_0001 &+ UInt64(version))
        kind(p).fill(target, using: &rng)
    }
}
