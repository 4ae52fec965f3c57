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
            // Words from a small vocabulary, a third of them followed by a number, separated by spaces
            // and (one in eight) newlines: compresses about as well as the string-heavy heaps of the
            // corpus (2-4x with LZ4). One random word per token: bits 0-15 pick the word, 16-23 whether
            // a number follows, 24-47 the number, 48-50 the separator.
            guard let base = page.baseAddress else { return }
            let count = page.count
            Self.wordTable.withUnsafeBytes { table in
                Self.wordLengths.withUnsafeBufferPointer { lengths in
                    var i = 0
                    while i < count {
                        let r = rng.next()
                        let w = Int((r & 0xFFFF) % Self.vocabularySize)
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
                        if (r >> 16) & 0xFF < 85 {
                            // Digits least significant first.
                            var number = Int(((r >> 24) & 0xFF_FFFF) % 100_000)
                            repeat {
                                guard i < count else { break }
                                base.storeBytes(of: UInt8(48 + number % 10), toByteOffset: i, as: UInt8.self)
                                i += 1
                                number /= 10
                            } while number > 0
                        }
                        if i < count {
                            base.storeBytes(of: (r >> 48) & 7 == 0 ? 10 : 32, toByteOffset: i, as: UInt8.self)
                            i += 1
                        }
                    }
                }
            }
        case .numeric:
            // Small integers (below 1000), a quarter of them zero: one random word each.
            var i = 0
            while i + 8 <= page.count {
                let r = rng.next()
                let value: UInt64 = r & 3 == 0 ? 0 : (r >> 2) % 1000
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
