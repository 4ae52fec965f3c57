/// The kinds of page a memory store meets: for generated workloads (`tmem demo`) and `@Test(arguments:)`.
public enum PageKind: String, Sendable, CaseIterable, CustomStringConvertible {
    /// All zero bytes (zram and zswap keep these as a flag, not data).
    case zero
    /// One repeated non-zero 8-byte word.
    case sameFilled
    /// Text records: words, numbers and punctuation, as heaps of strings hold (compresses well).
    case textLike
    /// Small integers and floats in arrays, with zero runs (compresses moderately).
    case numeric
    /// Uniformly random bytes (does not compress).
    case random

    public var description: String { rawValue }

    private static let vocabulary = [
        "user", "order", "id", "name", "email", "status", "active", "2026-11-22", "total", "\"amount\":",
        "{", "}", "null", "true", "price", "GET /api/v1/items", "200", "ms", "session", "alice@example.com",
    ]
    /// The words of the vocabulary, and how many there are: a constant, so that picking one is a
    /// multiplication rather than a division (checked against the list when the table is built).
    @inlinable static var vocabularySize: UInt64 { 20 }
    /// Each word's bytes at a multiple of ``wordSlot``, zero-padded: a word is copied as three 8-byte
    /// stores (the padding is overwritten by what follows).
    @inlinable static var wordSlot: Int { 24 }
    @usableFromInline static let wordTable: [UInt8] = {
        precondition(UInt64(vocabulary.count) == vocabularySize, "PageKind.vocabularySize is out of date")
        var table = [UInt8](repeating: 0, count: vocabulary.count * wordSlot)
        for (w, word) in vocabulary.enumerated() {
            precondition(word.utf8.count <= wordSlot, "a PageKind word is longer than its slot")
            for (k, byte) in word.utf8.enumerated() { table[w * wordSlot + k] = byte }
        }
        return table
    }()
    @usableFromInline static let wordLengths: [Int] = vocabulary.map { $0.utf8.count }

    /// Fills `page` with a page of this kind, varied by `rng`.
    ///
    /// Inlinable, so that it is specialised for the caller's generator: through the generic entry point
    /// every `next()` was a witness call, and generating pages took most of `tmem demo`'s time.
    ///
    /// - Parameters:
    ///   - page: The bytes to fill (any length; a page is 4096).
    ///   - rng: The source of variation.
    @inlinable
    public func fill<G: RandomNumberGenerator>(_ page: UnsafeMutableRawBufferPointer, using rng: inout G) {
        switch self {
        case .zero:
            page.initializeMemory(as: UInt8.self, repeating: 0)
        case .sameFilled:
            fillPage(page, with: rng.next() | 1)
        case .textLike:
            // Words from a small vocabulary, some followed by a number, separated by spaces and newlines:
            // compresses about as well as the string-heavy heaps of the corpus (2-4x with LZ4).
            guard let base = page.baseAddress else { return }
            let count = page.count
            Self.wordTable.withUnsafeBytes { table in
                Self.wordLengths.withUnsafeBufferPointer { lengths in
                    var i = 0
                    while i < count {
                        let w = Int(rng.next() % Self.vocabularySize)
                        let source = table.baseAddress! + w * Self.wordSlot
                        let n = min(lengths[w], count - i)
                        if i + Self.wordSlot <= count {
                            for k in stride(from: 0, to: Self.wordSlot, by: 8) {
                                base.storeBytes(
                                    of: source.loadUnaligned(fromByteOffset: k, as: UInt64.self), toByteOffset: i + k,
                                    as: UInt64.self)
                            }
                        } else {
                            (base + i).copyMemory(from: source, byteCount: n)
                        }
                        i += n
                        // Digits least significant first.
                        var number = rng.next() % 3 == 0 ? Int(rng.next() % 100_000) : -1
                        while number >= 0 && i < count {
                            base.storeBytes(of: UInt8(48 + number % 10), toByteOffset: i, as: UInt8.self)
                            i += 1
                            number = number >= 10 ? number / 10 : -1
                        }
                        if i < count {
                            base.storeBytes(of: rng.next() % 8 == 0 ? 10 : 32, toByteOffset: i, as: UInt8.self)
                            i += 1
                        }
                    }
                }
            }
        case .numeric:
            var i = 0
            while i + 8 <= page.count {
                let value: UInt64 = rng.next() % 4 == 0 ? 0 : rng.next() % 1000
                page.storeBytes(of: value, toByteOffset: i, as: UInt64.self)
                i += 8
            }
        case .random:
            var i = 0
            while i + 8 <= page.count {
                page.storeBytes(of: rng.next(), toByteOffset: i, as: UInt64.self)
                i += 8
            }
        }
    }

    /// A new page of this kind.
    ///
    /// - Parameter rng: The source of variation.
    /// - Returns: 4096 bytes.
    public func makePage<G: RandomNumberGenerator>(using rng: inout G) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: pageSize)
        bytes.withUnsafeMutableBytes { fill($0, using: &rng) }
        return bytes
    }
}
