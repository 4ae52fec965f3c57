import Tmem
import TmemCompression
import TmemZcache

/// Which backend to put behind a frontend, and how big: what `--backend`, `--capacity`, `--compressor`
/// and `--level` choose on the command line.
public enum BackendKind: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Uncompressed copies in RAM (the reference backend).
    case ram
    /// Compressed RAM (zcache / zswap style).
    case zcache

    public var description: String { rawValue }
}

/// A backend to build.
public struct BackendConfiguration: Sendable {
    /// Which backend.
    public var kind: BackendKind
    /// Its capacity in bytes.
    public var capacity: Int
    /// Zcache's compressor.
    public var compressor: CompressionAlgorithm
    /// Zcache's zstd level or LZ4 acceleration (nil: the compressor's default).
    public var level: Int?

    /// Creates a configuration.
    ///
    /// - Parameters:
    ///   - kind: Which backend.
    ///   - capacity: Its byte limit, at least 0.
    ///   - compressor: For zcache: LZ4 (default), zstd or none.
    ///   - level: For zcache: the zstd level or LZ4 acceleration.
    public init(kind: BackendKind, capacity: Int, compressor: CompressionAlgorithm = .lz4, level: Int? = nil) {
        self.kind = kind
        self.capacity = capacity
        self.compressor = compressor
        self.level = level
    }

    /// Builds the backend.
    ///
    /// - Returns: A new, empty backend.
    /// - Throws: ``ReplayError`` if the configuration is not valid.
    public func makeBackend() throws(ReplayError) -> any Backend {
        guard capacity >= 0 else { throw .configuration("capacity must not be negative") }
        switch kind {
        case .ram: return RAMPool(capacity: capacity)
        case .zcache:
            do throws(TmemError) {
                return try Zcache(configuration: .init(compressor: compressor, level: level, limit: capacity))
            } catch {
                throw .configuration(error.message)
            }
        }
    }
}
