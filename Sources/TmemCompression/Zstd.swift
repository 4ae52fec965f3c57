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
    /// - Parameters:
    ///   - input: The complete compressed file.
    ///   - limit: The most output to produce: decoding stops, and fails, as soon as the content would
    ///     pass it (nil: no limit). Untrusted input needs one: 36 KB of zstd can declare 1 GiB.
    /// - Returns: The concatenated content of all frames.
    /// - Throws: `CompressionError` with code `.corruptData` if the input is empty, is not
    ///   Zstandard, is corrupt, or ends in the middle of a frame; `.inputTooLarge` if the content is
    ///   longer than `limit`; `.outOfMemory` if libzstd cannot allocate its context.
    /// - Complexity: O(min(output size, limit)). Allocates the result (grown by doubling) and one
    ///   `ZSTD_DStreamOutSize()` (128 KiB) bounce buffer.
    /// - Note: Thread-safe: every call uses its own decoder.
    public static func decompressAll(
        _ input: UnsafeRawBufferPointer, limit: Int? = nil
    ) throws(CompressionError) -> [UInt8] {
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
        // One allocation of the declared size (within the limit) rather than doublings that overshoot it.
        if let declared = declaredContentSize(input) {
            result.reserveCapacity(Int(clamping: min(declared, UInt64(limit ?? Int.max))))
        }
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
            if let limit, outBuffer.pos > limit - result.count {
                throw CompressionError(.inputTooLarge, "the content is longer than the limit of \(limit) bytes")
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

    /// The content size the first frame's header declares, read without decoding anything (the
    /// `Frame_Content_Size` field of RFC 8878 §3.1.1.1; as `ZSTD_getFrameContentSize`).
    ///
    /// - Parameter bytes: The start of a Zstandard file.
    /// - Returns: The declared size in bytes, or nil when the header does not record one (`zstd` writing
    ///   to a pipe), is cut short, or `bytes` is no Zstandard frame. Later frames may add more.
    /// - Complexity: O(1).
    public static func declaredContentSize(_ bytes: UnsafeRawBufferPointer) -> UInt64? {
        guard isFrame(bytes), bytes.count >= 5 else { return nil }
        let descriptor = bytes[4]
        let sizeFlag = Int(descriptor >> 6)
        let singleSegment = descriptor & 0x20 != 0
        let dictionaryIDBytes = [0, 1, 2, 4][Int(descriptor & 3)]
        let sizeBytes = sizeFlag == 0 ? (singleSegment ? 1 : 0) : [0, 2, 4, 8][sizeFlag]
        let start = 5 + (singleSegment ? 0 : 1) + dictionaryIDBytes
        guard sizeBytes > 0, bytes.count >= start + sizeBytes else { return nil }
        var value: UInt64 = 0
        for i in (0..<sizeBytes).reversed() { value = value << 8 | UInt64(bytes[start + i]) }
        // The 2-byte form is offset by 256 (sizes 256...65791).
        return sizeBytes == 2 ? value + 256 : value
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
