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

    private static let words: [[UInt8]] = [
        "user", "order", "id", "name", "email", "status", "active", "2026-11-22", "total", "\"amount\":",
        "{", "}", "null", "true", "price", "GET /api/v1/items", "200", "ms", "session", "alice@example.com",
    ].map { Array($0.utf8) }

    /// Fills `page` with a page of this kind, varied by `rng`.
    ///
    /// - Parameters:
    ///   - page: The bytes to fill (any length; a page is 4096).
    ///   - rng: The source of variation.
    public func fill<G: RandomNumberGenerator>(_ page: UnsafeMutableRawBufferPointer, using rng: inout G) {
        switch self {
        case .zero:
            page.initializeMemory(as: UInt8.self, repeating: 0)
        case .sameFilled:
            fillPage(page, with: rng.next() | 1)
        case .textLike:
            // Words from a small vocabulary, some followed by a number, separated by spaces and newlines:
            // compresses about as well as the string-heavy heaps of the corpus (2-4x with LZ4).
            var i = 0
            while i < page.count {
                let word = Self.words[Int(rng.next() % UInt64(Self.words.count))]
                for byte in word where i < page.count {
                    page[i] = byte
                    i += 1
                }
                var number = rng.next() % 3 == 0 ? Int(rng.next() % 100_000) : -1
                while number >= 0 && i < page.count {
                    page[i] = UInt8(48 + number % 10)
                    i += 1
                    number = number >= 10 ? number / 10 : -1
                }
                if i < page.count {
                    page[i] = rng.next() % 8 == 0 ? 10 : 32
                    i += 1
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
