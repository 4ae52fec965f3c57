#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization
import Tmem

/// A fixed-size array of bits that many threads may read and change at once: the frontswap map.
///
/// One bit per slot, packed 64 to a word. Setting or clearing a bit is one atomic read-modify-write, so
/// bits of neighbouring slots can change concurrently; callers that need a bit to stay put while they
/// act on it hold that slot's stripe lock (see `Area`).
///
/// ## Implementation Notes
/// - **Paid for as used.** The words live in an anonymous `MAP_NORESERVE` mapping, zero-filled by the
///   kernel, so an area of four billion slots reserves 512 MiB of address space but commits a page of
///   words only when a bit in it is first set: the cost follows the slots used, not the area's size.
/// - **Scans follow the set bits.** A summary word per 64 words has bit w set while word w may be
///   non-zero, so ``forEachSetBit(_:)`` skips empty stretches 4096 slots at a time (shrink and
///   invalidate_area cost the pages held, plus one summary word per 4096 slots). A setter sets its word,
///   then the summary bit; a scan that finds a word empty clears the summary bit and reads the word
///   again, setting the bit back if a setter got in: a summary bit is never clear over a set bit.
final class AtomicBitmap: @unchecked Sendable {
    // @unchecked: `words` and `summary` are mapped once in init, unmapped in deinit, and only ever
    // accessed through Atomic operations in between, so sharing them across threads is safe.
    private let words: UnsafeMutablePointer<Atomic<UInt64>>
    private let summary: UnsafeMutablePointer<Atomic<UInt64>>
    private let wordCount: Int
    private let summaryCount: Int
    private let mappedBytes: Int
    /// The number of bits.
    let count: Int

    init(count: Int) {
        self.count = count
        wordCount = max((count + 63) / 64, 1)
        summaryCount = (wordCount + 63) / 64
        let bytes = (wordCount + summaryCount) * 8
        mappedBytes = (bytes + 4095) & ~4095
        let address = mmap(nil, mappedBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let address, address != MAP_FAILED else {
            fatalError("AtomicBitmap: cannot map \(mappedBytes) bytes for \(count) bits: \(Errno.current)")
        }
        // Zero-filled memory is a valid Atomic<UInt64> holding 0 (Atomic<UInt64> is laid out as UInt64).
        words = address.bindMemory(to: Atomic<UInt64>.self, capacity: wordCount + summaryCount)
        summary = words + wordCount
    }

    deinit { munmap(UnsafeMutableRawPointer(words), mappedBytes) }

    subscript(bit: Int) -> Bool {
        words[bit >> 6].load(ordering: .acquiring) & (1 << UInt64(bit & 63)) != 0
    }

    /// Sets a bit; returns whether it was already set.
    @discardableResult
    func set(_ bit: Int) -> Bool {
        let mask: UInt64 = 1 << UInt64(bit & 63)
        let word = bit >> 6
        let old = words[word].bitwiseOr(mask, ordering: .sequentiallyConsistent).oldValue
        if old == 0 { summary[word >> 6].bitwiseOr(1 << UInt64(word & 63), ordering: .sequentiallyConsistent) }
        return old & mask != 0
    }

    /// Clears a bit; returns whether it was set.
    @discardableResult
    func clear(_ bit: Int) -> Bool {
        let mask: UInt64 = 1 << UInt64(bit & 63)
        return words[bit >> 6].bitwiseAnd(~mask, ordering: .acquiringAndReleasing).oldValue & mask != 0
    }

    /// Calls `body` with each set bit in ascending order, from a snapshot of each word as it is reached;
    /// stops early when `body` returns false.
    ///
    /// - Complexity: O(set bits + count / 4096).
    func forEachSetBit(_ body: (Int) throws(FrontswapError) -> Bool) throws(FrontswapError) {
        for s in 0..<summaryCount {
            var present = summary[s].load(ordering: .sequentiallyConsistent)
            while present != 0 {
                let w = s << 6 | present.trailingZeroBitCount
                present &= present &- 1
                var word = words[w].load(ordering: .sequentiallyConsistent)
                if word == 0 {
                    // Empty now: clear its summary bit, then look again in case a setter came between.
                    let bit: UInt64 = 1 << UInt64(w & 63)
                    summary[s].bitwiseAnd(~bit, ordering: .sequentiallyConsistent)
                    word = words[w].load(ordering: .sequentiallyConsistent)
                    if word != 0 { summary[s].bitwiseOr(bit, ordering: .sequentiallyConsistent) }
                }
                while word != 0 {
                    let bit = word.trailingZeroBitCount
                    word &= word &- 1
                    if try !body(w << 6 | bit) { return }
                }
            }
        }
    }
}
