#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A few page compressors with their scratch buffers, each behind its own lock, so threads compress in
/// parallel without allocating (zswap's per-CPU `crypto_acomp_ctx`, zram's per-CPU `zcomp_strm`).
///
/// A thread starts at a slot picked from its thread id and takes the first free one, so with at least
/// as many slots as threads, two threads rarely wait for each other.
///
/// Thread safety: any thread may call ``with(_:)``; a slot is used by one caller at a time.
public final class CompressorPool: Sendable {
    // @unchecked: a slot lives inside its Box's Mutex and is only used with that lock held; its
    // compressor's C contexts and scratch buffer never leave the closure that holds the lock.
    public struct Slot: ~Copyable, @unchecked Sendable {
        /// The slot's compressor, with its contexts.
        public var compressor: PageCompressor
        /// Room for one compressed page and a checksum (8 KiB, above every compressor's bound for a
        /// page), page-aligned.
        public let scratch: UnsafeMutableRawBufferPointer

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
    ///
    /// - Parameters:
    ///   - algorithm: The compressor.
    ///   - level: Its level (see ``PageCompressor/init(algorithm:level:)``).
    ///   - count: How many slots: at least the number of threads that compress at once.
    /// - Throws: `CompressionError` for an invalid level or a context libzstd cannot allocate.
    public init(algorithm: CompressionAlgorithm, level: Int?, count: Int) throws(CompressionError) {
        var boxes: [Box] = []
        for _ in 0..<max(count, 1) {
            boxes.append(Box(Slot(try PageCompressor(algorithm: algorithm, level: level))))
        }
        self.boxes = boxes
    }

    /// Runs `body` with exclusive use of one compressor and its scratch buffer.
    ///
    /// - Parameter body: Uses the slot; it must not call back into this pool.
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws.
    @inline(__always)
    public func with<R, E: Error>(_ body: (inout Slot) throws(E) -> R) throws(E) -> R {
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
    /// Runs `body` holding every slot, taken in index order: no `with` runs meanwhile (Zcache's
    /// compaction uses it to exclude puts between allocating an object and entering it).
    public func withEverySlot<R: Sendable>(_ body: () -> R) -> R { withSlots(from: 0, body) }

    private func withSlots<R: Sendable>(from i: Int, _ body: () -> R) -> R {
        guard i < boxes.count else { return body() }
        return boxes[i].slot.withLock { _ in withSlots(from: i + 1, body) }
    }
}
