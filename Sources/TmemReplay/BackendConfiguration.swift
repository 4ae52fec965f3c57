import Tmem

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

    /// Creates a configuration.
    ///
    /// - Parameters:
    ///   - kind: Which backend.
    ///   - capacity: Its byte limit, at least 0.
    public init(kind: BackendKind, capacity: Int) {
        self.kind = kind
        self.capacity = capacity
    }

    /// Builds the backend.
    ///
    /// - Returns: A new, empty backend.
    /// - Throws: ``ReplayError`` if the configuration is not valid.
    public func makeBackend() throws(ReplayError) -> any Backend {
        guard capacity >= 0 else { throw .configuration("capacity must not be negative") }
        switch kind {
        case .ram: return RAMPool(capacity: capacity)
        case .zcache: throw .configuration("the zcache backend is not built yet")
        }
    }
}
