import CZstd

/// Whole-file Zstandard helpers, for reading `.zst` inputs such as the page corpus
/// (`dev-pages.bin.zst`). Not for the page path: use `PageCompressor` there.
public enum Zstd {
    /// The magic number every Zstandard frame starts with (little-endian), `ZSTD_MAGICNUMBER`.
    public static let frameMagic: UInt32 = CZSTD_MAGICNUMBER

    /// Decompresses a whole `.zst` file held in memory, as `zstd -dc` would.
    ///
    /// Uses the streaming decoder (`ZSTD_decompressStream`), so the input may hold several
    /// concatenated frames (as `cat a.zst b.zst` or `pzstd` produce), skippable frames, and frames
    /// whose content size was not recorded (as `zstd` writes when compressing a pipe).
    ///
    /// - Parameter input: The complete compressed file.
    /// - Returns: The concatenated content of all frames.
    /// - Throws: `CompressionError` with code `.corruptData` if the input is empty, is not
    ///   Zstandard, is corrupt, or ends in the middle of a frame; `.outOfMemory` if libzstd cannot
    ///   allocate its context.
    /// - Complexity: O(output size). Allocates the result (grown by doubling) and one
    ///   `ZSTD_DStreamOutSize()` (128 KiB) bounce buffer. The output size is whatever the input
    ///   says: do not call this on untrusted input without a size limit of your own.
    /// - Note: Thread-safe: every call uses its own decoder.
    public static func decompressAll(_ input: UnsafeRawBufferPointer) throws(CompressionError) -> [UInt8] {
        guard input.count > 0 else {
            throw CompressionError(.corruptData, "empty input is not a Zstandard file")
        }
        guard let stream = ZSTD_createDCtx() else {
            throw CompressionError(.outOfMemory, "ZSTD_createDCtx returned NULL")
        }
        defer { ZSTD_freeDCtx(stream) }

        let chunk = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: ZSTD_DStreamOutSize())
        defer { chunk.deallocate() }

        var result: [UInt8] = []
        var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        var lastResult = 0
        // zstd does not consume the last byte of a frame before it has flushed all of the frame's
        // output, so "input left" is the whole loop condition, even when `chunk` fills up.
        while inBuffer.pos < inBuffer.size {
            var outBuffer = ZSTD_outBuffer(dst: chunk.baseAddress, size: chunk.count, pos: 0)
            let status = ZSTD_decompressStream(stream, &outBuffer, &inBuffer)
            if ZSTD_isError(status) != 0 {
                let error = ZstdError.make(status, operation: "ZSTD_decompressStream")
                throw CompressionError(error.code, "\(error.message) near input offset \(inBuffer.pos)")
            }
            result.append(contentsOf: UnsafeBufferPointer(rebasing: chunk[..<outBuffer.pos]))
            lastResult = status
        }
        // A non-zero hint after all input is consumed means the last frame is incomplete.
        guard lastResult == 0 else {
            throw CompressionError(.corruptData, "input ends inside a frame (\(input.count) bytes read)")
        }
        return result
    }

    /// Tells whether `bytes` starts with a Zstandard frame (the magic number `0xFD2FB528`).
    ///
    /// A cheap sniff, not a validation: the rest of the frame may still be corrupt. Skippable
    /// frames (magic `0x184D2A5?`) are not recognised.
    ///
    /// - Parameter bytes: The start of a file or buffer; fewer than 4 bytes give `false`.
    /// - Returns: `true` if the first four bytes are the zstd frame magic.
    /// - Complexity: O(1).
    public static func isFrame(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= 4 else {
            return false
        }
        return UInt32(littleEndian: bytes.loadUnaligned(as: UInt32.self)) == frameMagic
    }
}
