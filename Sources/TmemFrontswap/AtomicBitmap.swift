import Synchronization

/// A fixed-size array of bits that many threads may read and change at once: the frontswap map.
///
/// One bit per slot, packed 64 to a word. Setting or clearing a bit is one atomic read-modify-write, so
/// bits of neighbouring slots can change concurrently; callers that need a bit to stay put while they
/// act on it hold that slot's stripe lock (see `Area`).
final class AtomicBitmap: @unchecked Sendable {
    // @unchecked: `words` is allocated once in init, freed in deinit, and only ever accessed through
    // Atomic operations in between, so sharing it across threads is safe.
    private let words: UnsafeMutablePointer<Atomic<UInt64>>
    private let wordCount: Int
    /// The number of bits.
    let count: Int

    init(count: Int) {
        self.count = count
        wordCount = (count + 63) / 64
        words = .allocate(capacity: max(wordCount, 1))
        for i in 0..<max(wordCount, 1) { (words + i).initialize(to: Atomic(0)) }
    }

    deinit {
        _ = words.deinitialize(count: max(wordCount, 1))
        words.deallocate()
    }

    /// Bytes of memory the bitmap occupies.
    var byteCount: Int { max(wordCount, 1) * 8 }

    subscript(bit: Int) -> Bool {
        words[bit >> 6].load(ordering: .acquiring) & (1 << UInt64(bit & 63)) != 0
    }

    /// Sets a bit; returns whether it was already set.
    @discardableResult
    func set(_ bit: Int) -> Bool {
        let mask: UInt64 = 1 << UInt64(bit & 63)
        return words[bit >> 6].bitwiseOr(mask, ordering: .acquiringAndReleasing).oldValue & mask != 0
    }

    /// Clears a bit; returns whether it was set.
    @discardableResult
    func clear(_ bit: Int) -> Bool {
        let mask: UInt64 = 1 << UInt64(bit & 63)
        return words[bit >> 6].bitwiseAnd(~mask, ordering: .acquiringAndReleasing).oldValue & mask != 0
    }

    /// The number of set bits (a snapshot: bits may change while it counts).
    var popCount: Int {
        var total = 0
        for i in 0..<wordCount { total += words[i].load(ordering: .relaxed).nonzeroBitCount }
        return total
    }

    /// Calls `body` with each set bit in ascending order, from a snapshot of each word as it is reached;
    /// stops early when `body` returns false.
    func forEachSetBit(_ body: (Int) throws(FrontswapError) -> Bool) throws(FrontswapError) {
        for i in 0..<wordCount {
            var word = words[i].load(ordering: .acquiring)
            while word != 0 {
                let bit = word.trailingZeroBitCount
                word &= word &- 1
                if try !body(i << 6 | bit) { return }
            }
        }
    }
}
