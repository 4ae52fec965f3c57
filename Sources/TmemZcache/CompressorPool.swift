#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import TmemCompression

/// A few compressors with their scratch buffers, each behind its own lock, so threads compress in
/// parallel without allocating (zswap's per-CPU `crypto_acomp_ctx`, zram's per-CPU `zcomp_strm`).
///
/// A thread starts at a slot picked from its thread id and takes the first free one, so with at least
/// as many slots as threads, two threads rarely wait for each other.
final class CompressorPool: Sendable {
    // @unchecked: a slot lives inside its Box's Mutex and is only used with that lock held; its
    // compressor's C contexts and scratch buffer never leave the closure that holds the lock.
    struct Slot: ~Copyable, @unchecked Sendable {
        var compressor: PageCompressor
        /// Room for one compressed page and its checksum, page-aligned.
        let scratch: UnsafeMutableRawBufferPointer

        init(_ compressor: consuming PageCompressor) {
            self.compressor = compressor
            scratch = .allocate(byteCount: 8192, alignment: 4096)
        }

        deinit { scratch.deallocate() }
    }

    final class Box: Sendable {
        let slot: Mutex<Slot>
        init(_ slot: consuming Slot) { self.slot = Mutex(slot) }
    }

    fileprivate let boxes: [Box]

    /// Creates `count` compressors of one kind.
    init(algorithm: CompressionAlgorithm, level: Int?, count: Int) throws(CompressionError) {
        var boxes: [Box] = []
        for _ in 0..<max(count, 1) {
            boxes.append(Box(Slot(try PageCompressor(algorithm: algorithm, level: level))))
        }
        self.boxes = boxes
    }

    /// Runs `body` with exclusive use of one compressor and its scratch buffer.
    @inline(__always)
    func with<R, E: Error>(_ body: (inout Slot) throws(E) -> R) throws(E) -> R {
        let start = Int(truncatingIfNeeded: (UInt64(UInt(pthread_self())) &* 0x9E37_79B9_7F4A_7C15) >> 40)
        let n = boxes.count
        for i in 0..<n {
            let box = boxes[(start &+ i) % n]
            if let result = try box.slot.withLockIfAvailable({ (slot: inout Slot) throws(E) -> R in try body(&slot) }) {
                return result
            }
        }
        return try boxes[start % n].slot.withLock { (slot: inout Slot) throws(E) -> R in try body(&slot) }
    }
}

extension CompressorPool {
    /// Runs `body` holding every slot, taken in index order (for compaction).
    func withEverySlot<R: Sendable>(_ body: () -> R) -> R { withSlots(from: 0, body) }

    private func withSlots<R: Sendable>(from i: Int, _ body: () -> R) -> R {
        guard i < boxes.count else { return body() }
        return boxes[i].slot.withLock { _ in withSlots(from: i + 1, body) }
    }
}

/// A fast 32-bit checksum of a compressed object (four independent multiply-rotate lanes over 8-byte
/// words, then the tail): not cryptographic, it catches damaged bytes, which LZ4 and zstd blocks cannot.
@inline(__always)
func objectChecksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
    var a: UInt64 = 0x9E37_79B9_7F4A_7C15, b: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    var c: UInt64 = 0x1656_67B1_9E37_79F9, d: UInt64 = 0x27D4_EB2F_1656_67C5
    let base = bytes.baseAddress!
    var i = 0
    let n = bytes.count
    while i + 32 <= n {
        a = (a ^ base.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0x100_0000_01B3
        b = (b ^ base.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self)) &* 0x100_0000_01B3
        c = (c ^ base.loadUnaligned(fromByteOffset: i + 16, as: UInt64.self)) &* 0x100_0000_01B3
        d = (d ^ base.loadUnaligned(fromByteOffset: i + 24, as: UInt64.self)) &* 0x100_0000_01B3
        a = (a << 31) | (a >> 33); b = (b << 29) | (b >> 35); c = (c << 27) | (c >> 37); d = (d << 25) | (d >> 39)
        i += 32
    }
    var h = a ^ (b &* 3) ^ (c &* 5) ^ (d &* 7) ^ UInt64(n)
    while i < n {
        h = (h ^ UInt64(base.load(fromByteOffset: i, as: UInt8.self))) &* 0x100_0000_01B3
        i += 1
    }
    h ^= h >> 29
    h &*= 0xBF58_476D_1CE4_E5B9
    h ^= h >> 32
    return UInt32(truncatingIfNeeded: h)
}
