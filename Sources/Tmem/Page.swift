/// The size of a page in bytes. Tmem, like frontswap on x86-64, deals only in 4 KiB pages.
public let pageSize = 4096

/// FNV-1a, 64-bit, over a page's bytes: the checksum `tmem replay` prints for every load.
///
/// Not a cryptographic hash; it names a page's contents compactly in traces and test output.
///
/// - Parameter bytes: The bytes to hash (any length; a page is 4096 bytes).
/// - Returns: The 64-bit FNV-1a hash of `bytes`.
/// - Complexity: O(n), about one multiply per byte.
public func fnv1a64(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes {
        hash ^= UInt64(byte)
        hash &*= 0x0000_0100_0000_01b3
    }
    return hash
}

/// Formats a 64-bit hash as 16 lowercase hexadecimal digits, as `tmem replay` prints it.
///
/// - Parameter hash: The value to format.
/// - Returns: Exactly 16 characters, zero-padded.
public func hex16(_ hash: UInt64) -> String {
    let digits = String(hash, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}

/// If every aligned 8-byte word of `page` is the same, returns that word ("same-filled", zero pages
/// included), as zswap and zram detect them; otherwise nil.
///
/// - Parameter page: The page, whose count must be a multiple of 8.
/// - Returns: The repeated word, or nil.
/// - Complexity: O(n), stopping at the first differing word.
public func sameFilledWord(_ page: UnsafeRawBufferPointer) -> UInt64? {
    let words = page.count / 8
    guard words > 0, page.count % 8 == 0 else { return nil }
    let first = page.loadUnaligned(as: UInt64.self)
    // Compare the last word first: most pages that are not same-filled differ there.
    if page.loadUnaligned(fromByteOffset: page.count - 8, as: UInt64.self) != first { return nil }
    var offset = 8
    while offset < page.count {
        if page.loadUnaligned(fromByteOffset: offset, as: UInt64.self) != first { return nil }
        offset &+= 8
    }
    return first
}

/// Fills `page` with a repeated 8-byte word (the inverse of ``sameFilledWord(_:)``).
///
/// - Parameters:
///   - page: The destination; its count must be a multiple of 8.
///   - word: The word to repeat.
public func fillPage(_ page: UnsafeMutableRawBufferPointer, with word: UInt64) {
    precondition(page.count % 8 == 0, "a same-filled page is made of whole 8-byte words")
    if word == 0 {
        page.initializeMemory(as: UInt8.self, repeating: 0)
        return
    }
    var offset = 0
    while offset < page.count {
        page.storeBytes(of: word, toByteOffset: offset, as: UInt64.self)
        offset &+= 8
    }
}
