import CLZ4
import CZstd

/// A page compression algorithm, as zram and zswap name them (`comp_algorithm`, `compressor`).
///
/// The raw value is the name used on the command line and in reports, and matches the kernel's
/// name for the same algorithm (`lz4`, `zstd`), so a `tmem bench --vs zram` run can hand the same
/// string to `/sys/block/zramN/comp_algorithm`.
///
/// - `lz4`: LZ4 block format (liblz4.so.1). Fastest; the default of most zram setups.
/// - `zstd`: one Zstandard frame per page (libzstd.so.1). Slower, clearly better ratio.
/// - `none`: a plain copy. The baseline that measures everything but the compressor.
public enum CompressionAlgorithm: String, Sendable, CaseIterable {
    /// LZ4 block format; `level` is LZ4's acceleration factor.
    case lz4
    /// One Zstandard frame per page; `level` is the zstd compression level.
    case zstd
    /// No compression: `compress` copies the page if it fits, `decompress` copies it back.
    case none

    /// The largest output `compress` can produce for `sourceCount` input bytes, so that a
    /// destination of this size never yields `nil`.
    ///
    /// Mirrors `LZ4_compressBound` and `ZSTD_compressBound`; for `none` it is `sourceCount`.
    ///
    /// - Parameter sourceCount: The uncompressed size in bytes; must not be negative. For `lz4` it
    ///   must not exceed LZ4's maximum input size (2 113 929 216 bytes).
    /// - Returns: The worst-case compressed size in bytes.
    /// - Complexity: O(1).
    public func bound(for sourceCount: Int) -> Int {
        precondition(sourceCount >= 0, "negative source size \(sourceCount)")
        switch self {
        case .lz4:
            precondition(sourceCount <= Int(CLZ4_MAX_INPUT_SIZE), "source too large for LZ4: \(sourceCount) bytes")
            return Int(LZ4_compressBound(Int32(sourceCount)))
        case .zstd:
            return ZSTD_compressBound(sourceCount)
        case .none:
            return sourceCount
        }
    }

    /// The version of the shared library that implements this algorithm, e.g. `"1.9.4"`; `nil`
    /// for `none`. Reports print it next to measured figures.
    ///
    /// - Complexity: O(1).
    public var libraryVersion: String? {
        switch self {
        case .lz4:
            return Self.dotted(Int(LZ4_versionNumber()))
        case .zstd:
            return Self.dotted(Int(ZSTD_versionNumber()))
        case .none:
            return nil
        }
    }

    /// Formats major*10000 + minor*100 + release, the encoding both libraries use.
    private static func dotted(_ number: Int) -> String {
        "\(number / 10_000).\(number / 100 % 100).\(number % 100)"
    }
}
