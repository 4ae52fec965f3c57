#if canImport(Glibc)
import Glibc
#endif
import Tmem

/// Page-aligned memory for O_DIRECT reads and writes of a `ZramDevice`.
///
/// O_DIRECT on a zram device requires the buffer, the offset and the length to be multiples of its
/// logical block size (one page), so ordinary arrays will not do. The buffer owns memory from
/// `posix_memalign`, zero-filled, freed in `deinit`; pointers are lent only inside the `with…`
/// closures and must not escape them.
public struct AlignedPageBuffer: ~Copyable {
    /// The page size, and the alignment, of every buffer: 4 KiB, zram's logical block size on x86-64
    /// and arm64 with 4 KiB pages.
    public static let pageSize = 4096

    private let base: UnsafeMutableRawPointer

    /// The number of pages the buffer holds.
    public let pageCount: Int

    /// Allocates `pages` zero-filled, page-aligned pages.
    ///
    /// - Parameter pages: The number of pages; must be positive.
    /// - Throws: `ZramError` with code `.outOfMemory` if `posix_memalign` fails.
    /// - Complexity: O(`pages`) to zero the memory.
    public init(pages: Int) throws(ZramError) {
        precondition(pages > 0, "an AlignedPageBuffer needs at least one page, not \(pages)")
        var memory: UnsafeMutableRawPointer? = nil
        let status = posix_memalign(&memory, Self.pageSize, pages * Self.pageSize)
        guard status == 0, let memory else {
            throw ZramError(.outOfMemory, "posix_memalign of \(pages) pages failed", errno: Errno(status))
        }
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: pages * Self.pageSize)
        self.base = memory
        self.pageCount = pages
    }

    deinit {
        free(base)
    }

    /// The buffer's size in bytes, `pageCount * pageSize`.
    public var byteCount: Int { pageCount * Self.pageSize }

    /// Lends the whole buffer, read-only, to `body`.
    ///
    /// - Parameter body: Uses the bytes; the pointer must not escape it.
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws.
    public func withUnsafeBytes<Result, Failure: Error>(
        _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try body(UnsafeRawBufferPointer(start: base, count: byteCount))
    }

    /// Lends the whole buffer, writable, to `body`.
    ///
    /// - Parameter body: Uses the bytes; the pointer must not escape it.
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws.
    public mutating func withUnsafeMutableBytes<Result, Failure: Error>(
        _ body: (UnsafeMutableRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try body(UnsafeMutableRawBufferPointer(start: base, count: byteCount))
    }

    /// Lends one page, read-only, to `body` (a page-aligned 4 KiB view, ready for `ZramDevice.write`).
    ///
    /// - Parameters:
    ///   - index: The page, in `0..<pageCount` (traps otherwise).
    ///   - body: Uses the page; the pointer must not escape it.
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws.
    public func withPage<Result, Failure: Error>(
        _ index: Int,
        _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        precondition(index >= 0 && index < pageCount, "page \(index) outside 0..<\(pageCount)")
        return try body(UnsafeRawBufferPointer(start: base + index * Self.pageSize, count: Self.pageSize))
    }

    /// Lends one page, writable, to `body` (a page-aligned 4 KiB view, ready for `ZramDevice.read`).
    ///
    /// - Parameters:
    ///   - index: The page, in `0..<pageCount` (traps otherwise).
    ///   - body: Uses the page; the pointer must not escape it.
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws.
    public mutating func withMutablePage<Result, Failure: Error>(
        _ index: Int,
        _ body: (UnsafeMutableRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        precondition(index >= 0 && index < pageCount, "page \(index) outside 0..<\(pageCount)")
        return try body(UnsafeMutableRawBufferPointer(start: base + index * Self.pageSize, count: Self.pageSize))
    }
}
