import CLZ4
import CZstd

/// Compresses and decompresses single pages with one algorithm, reusing its C contexts.
///
/// This is the compressor of the zcache store path (zswap's `crypto_acomp` per-CPU context, zram's
/// `zcomp_strm`): one `compress` per stored page, one `decompress` per loaded page.
///
/// ```swift
/// var compressor = try PageCompressor(algorithm: .lz4)
/// if let length = compressor.compress(page, into: scratch) { /* store scratch[..<length] */ }
/// else { /* poorly compressible: store the page as is, or refuse it */ }
/// try compressor.decompress(stored, into: page)   // exactly page.count bytes, or throws
/// ```
///
/// ## Thread safety
/// Not thread-safe. The zstd contexts hold per-call state, so one compressor must never be used
/// by two threads at once: keep one per thread, or one per lock (and call it only under that lock).
/// The type is `~Copyable`, so a context is never shared by accident, and it may be *moved* to
/// another thread (`Sendable`), e.g. into a `Mutex` or a worker.
///
/// ## Implementation Notes
/// - The destination size is the policy. `compress` writes at most `dst.count` bytes and returns
///   `nil` when the result would not fit; LZ4 stops as soon as it runs out of room, so passing a
///   destination the size of the "poor compression" threshold (zram uses 3/4 of a page) makes
///   rejecting an incompressible page cheap, and no caller needs a second threshold check.
/// - Decompression is exact: it succeeds only if the input decodes to exactly `dst.count` bytes,
///   so a short or overlong object is never mistaken for a page.
/// - No allocation per call: LZ4 keeps its state on the stack; zstd reuses the `ZSTD_CCtx` and
///   `ZSTD_DCtx` made in `init` (the compression context sizes its tables on first use, then keeps
///   them). Both contexts are freed in `deinit`.
/// - The formats carry no checksum: LZ4 blocks have none, and zstd frames are written without
///   one (it would cost 4 bytes a page). Corruption of the structure is detected; a changed literal
///   byte can decode to a page of the right size with wrong content. See the module caveats.
// @unchecked Sendable: the value is ~Copyable, so it has one owner at a time, and every method
// that touches the C contexts is `mutating`, so Swift's exclusivity rules already forbid two
// threads from using one compressor at once. Sending it to another thread moves the contexts with it.
public struct PageCompressor: ~Copyable, @unchecked Sendable {
    /// The algorithm this compressor runs.
    public let algorithm: CompressionAlgorithm

    /// The effective level: the zstd compression level, the LZ4 acceleration factor, or 0 for `none`.
    public let level: Int

    /// zstd compression context; `nil` unless `algorithm == .zstd`. Owned: freed in `deinit`.
    private let compressionContext: OpaquePointer?

    /// zstd decompression context; `nil` unless `algorithm == .zstd`. Owned: freed in `deinit`.
    private let decompressionContext: OpaquePointer?

    /// Default zstd level. Level 1 is the fastest standard level, and on 4 KiB pages it already
    /// compresses within a few percent of level 3 (corpus README: 3.30 vs 3.36) at about twice the speed.
    public static let defaultZstdLevel = 1

    /// Default LZ4 acceleration: 1, the library's default and zram's. Higher values trade ratio for
    /// speed (acceleration 4 lowers the corpus ratio from 2.33 to 2.18).
    public static let defaultLZ4Acceleration = 1

    /// The largest LZ4 acceleration the library honours (`LZ4_ACCELERATION_MAX` in lz4.c).
    public static let maxLZ4Acceleration = 65_537

    /// Creates a compressor and, for zstd, allocates its two contexts.
    ///
    /// - Parameters:
    ///   - algorithm: The algorithm to run.
    ///   - level: For `zstd`, the compression level in `ZSTD_minCLevel()...ZSTD_maxCLevel()`
    ///     (negative levels are zstd's "fast" levels; 0 means zstd's default, 3); default 1.
    ///     For `lz4`, the acceleration factor in `1...65537`; default 1. For `none`, must be `nil`.
    /// - Throws: `CompressionError` with code `.invalidLevel` if the level is out of range, or
    ///   `.outOfMemory` if libzstd cannot allocate a context.
    /// - Complexity: O(1); a zstd context is a few hundred KiB once its tables are sized.
    public init(algorithm: CompressionAlgorithm, level: Int? = nil) throws(CompressionError) {
        switch algorithm {
        case .lz4:
            let acceleration = level ?? Self.defaultLZ4Acceleration
            guard (1...Self.maxLZ4Acceleration).contains(acceleration) else {
                throw CompressionError(
                    .invalidLevel,
                    "LZ4 acceleration \(acceleration) is outside 1...\(Self.maxLZ4Acceleration)"
                )
            }
            self.algorithm = algorithm
            self.level = acceleration
            self.compressionContext = nil
            self.decompressionContext = nil
        case .zstd:
            let chosen = level ?? Self.defaultZstdLevel
            let range = Int(ZSTD_minCLevel())...Int(ZSTD_maxCLevel())
            guard range.contains(chosen) else {
                throw CompressionError(.invalidLevel, "zstd level \(chosen) is outside \(range)")
            }
            guard let cctx = ZSTD_createCCtx() else {
                throw CompressionError(.outOfMemory, "ZSTD_createCCtx returned NULL")
            }
            guard let dctx = ZSTD_createDCtx() else {
                ZSTD_freeCCtx(cctx)
                throw CompressionError(.outOfMemory, "ZSTD_createDCtx returned NULL")
            }
            self.algorithm = algorithm
            self.level = chosen
            self.compressionContext = cctx
            self.decompressionContext = dctx
        case .none:
            guard level == nil else {
                throw CompressionError(.invalidLevel, "algorithm 'none' takes no level (got \(level!))")
            }
            self.algorithm = algorithm
            self.level = 0
            self.compressionContext = nil
            self.decompressionContext = nil
        }
    }

    deinit {
        if let compressionContext {
            ZSTD_freeCCtx(compressionContext)
        }
        if let decompressionContext {
            ZSTD_freeDCtx(decompressionContext)
        }
    }

    /// Compresses `src` into `dst`.
    ///
    /// Mirrors `zcomp_compress` in zram: the caller sizes `dst` to the largest compressed size it
    /// is willing to store, and gets `nil` for pages that do not compress that well.
    ///
    /// - Parameters:
    ///   - src: The bytes to compress (normally one page). For `lz4`, at most 2 113 929 216 bytes
    ///     (larger traps: pages never are).
    ///   - dst: Where to write; at most `dst.count` bytes are written. Pass
    ///     `algorithm.bound(for: src.count)` bytes to make compression always succeed. On `nil`
    ///     its contents are unspecified.
    /// - Returns: The number of bytes written to `dst`, or `nil` if the compressed form would not
    ///   fit in `dst.count` bytes. For zstd, `nil` is also returned in the unexpected case that
    ///   libzstd fails for another reason (it cannot size its tables): the page is then simply not
    ///   stored compressed, which every caller already handles.
    /// - Complexity: O(`src.count`). No allocation (zstd's context allocates only on first use).
    /// - Note: Not thread-safe; see the type's documentation.
    public mutating func compress(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) -> Int? {
        switch algorithm {
        case .lz4:
            precondition(src.count <= Int(CLZ4_MAX_INPUT_SIZE), "source too large for LZ4: \(src.count) bytes")
            // A capacity beyond Int32 is as good as the bound for any input LZ4 accepts.
            let capacity = Int32(clamping: dst.count)
            let written = LZ4_compress_fast(
                src.baseAddress?.assumingMemoryBound(to: CChar.self),
                dst.baseAddress?.assumingMemoryBound(to: CChar.self),
                Int32(src.count),
                capacity,
                Int32(level)
            )
            return written > 0 ? Int(written) : nil
        case .zstd:
            let result = ZSTD_compressCCtx(
                compressionContext,
                dst.baseAddress,
                dst.count,
                src.baseAddress,
                src.count,
                Int32(level)
            )
            // ZSTD_error_dstSize_tooSmall is the expected failure; see Returns for the rest.
            return ZSTD_isError(result) != 0 ? nil : result
        case .none:
            guard src.count <= dst.count else {
                return nil
            }
            if let source = src.baseAddress, src.count > 0 {
                dst.baseAddress!.copyMemory(from: source, byteCount: src.count)
            }
            return src.count
        }
    }

    /// Decompresses `src` into `dst`, which must be filled exactly.
    ///
    /// Mirrors `zcomp_decompress` in zram, with the length check zram does by hand
    /// (`BUG_ON(ret || dst_len != PAGE_SIZE)`) turned into an error.
    ///
    /// - Parameters:
    ///   - src: One compressed object as `compress` wrote it (exactly its returned length).
    ///   - dst: Where to write; its `count` is the expected uncompressed size (normally one page).
    ///     If the call throws, its contents are unspecified: never use them as data.
    /// - Throws: `CompressionError` with code `.corruptData` if the library rejects `src`
    ///   (malformed, truncated, or not of this algorithm); `.sizeMismatch` if `src` decodes to
    ///   more or fewer than `dst.count` bytes; `.inputTooLarge` if `src` or `dst` exceeds LZ4's
    ///   32-bit sizes.
    /// - Complexity: O(`dst.count`). No allocation on success.
    /// - Note: Not thread-safe; see the type's documentation. Both libraries read only inside
    ///   `src` and write only inside `dst`, whatever the input.
    public mutating func decompress(
        _ src: UnsafeRawBufferPointer,
        into dst: UnsafeMutableRawBufferPointer
    ) throws(CompressionError) {
        switch algorithm {
        case .lz4:
            guard src.count <= Int(Int32.max), dst.count <= Int(Int32.max) else {
                throw CompressionError(.inputTooLarge, "LZ4 block sizes are 32-bit (src \(src.count), dst \(dst.count))")
            }
            let decoded = LZ4_decompress_safe(
                src.baseAddress?.assumingMemoryBound(to: CChar.self),
                dst.baseAddress?.assumingMemoryBound(to: CChar.self),
                Int32(src.count),
                Int32(dst.count)
            )
            guard decoded >= 0 else {
                throw CompressionError(
                    .corruptData,
                    "LZ4_decompress_safe rejected \(src.count) bytes (error at input offset \(-Int(decoded) - 1))"
                )
            }
            guard Int(decoded) == dst.count else {
                throw CompressionError(.sizeMismatch, "LZ4 block decodes to \(decoded) bytes, expected \(dst.count)")
            }
        case .zstd:
            let result = ZSTD_decompressDCtx(decompressionContext, dst.baseAddress, dst.count, src.baseAddress, src.count)
            if ZSTD_isError(result) != 0 {
                throw ZstdError.make(result, operation: "ZSTD_decompressDCtx", expected: dst.count)
            }
            guard result == dst.count else {
                throw CompressionError(.sizeMismatch, "zstd frame decodes to \(result) bytes, expected \(dst.count)")
            }
        case .none:
            guard src.count == dst.count else {
                throw CompressionError(.sizeMismatch, "stored copy has \(src.count) bytes, expected \(dst.count)")
            }
            if let source = src.baseAddress, src.count > 0 {
                dst.baseAddress!.copyMemory(from: source, byteCount: src.count)
            }
        }
    }
}

/// Turns libzstd error results into `CompressionError`s. Error path only: it allocates strings.
enum ZstdError {
    /// Builds the error for a failed zstd call, telling "does not fit" apart from "corrupt".
    ///
    /// - Parameters:
    ///   - result: The size_t the call returned, for which `ZSTD_isError` is true.
    ///   - operation: The C function's name, for the message.
    ///   - expected: The destination size, when the caller expects an exact size.
    static func make(_ result: Int, operation: String, expected: Int? = nil) -> CompressionError {
        let name = String(cString: ZSTD_getErrorName(result))
        switch ZSTD_getErrorCode(result) {
        case ZSTD_error_dstSize_tooSmall:
            let limit = expected.map { " than \($0) bytes" } ?? ""
            return CompressionError(.sizeMismatch, "\(operation): decodes to more\(limit) (\(name))")
        case ZSTD_error_memory_allocation:
            return CompressionError(.outOfMemory, "\(operation): \(name)")
        default:
            return CompressionError(.corruptData, "\(operation): \(name)")
        }
    }
}
