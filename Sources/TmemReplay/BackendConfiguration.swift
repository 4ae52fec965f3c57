import Tmem
import TmemCompression
import TmemRemote
import TmemWire
import TmemZcache

/// Which backend to put behind a frontend, and how big: what `--backend`, `--capacity`, `--compressor`
/// and `--level` choose on the command line.
public enum BackendKind: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Uncompressed copies in RAM (the reference backend).
    case ram
    /// Compressed RAM (zcache / zswap style).
    case zcache
    /// A tmemd host's RAM alone (``BackendConfiguration/host``).
    case remote

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
    /// A tmemd host: the backend for `.remote`, and the second tier behind `.ram` or `.zcache`
    /// (compressed RAM first, the host second, the swap file last).
    public var host: HostAddress?
    /// The shared secret's file (nil: the default path; on a Unix socket a missing file is no error).
    public var secretFile: String?
    /// The client's name at the host (its weight and cap are configured by it).
    public var clientName: String?

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
        let local: any Backend
        switch kind {
        case .ram: local = RAMPool(capacity: capacity)
        case .zcache:
            do throws(TmemError) {
                local = try Zcache(configuration: .init(compressor: compressor, level: level, limit: capacity))
            } catch {
                throw .configuration(error.message)
            }
        case .remote:
            return try makeRemote()
        }
        guard host != nil else { return local }
        return TieredBackend(upper: local, lower: try makeRemote())
    }

    /// The remote backend for ``host``.
    public func makeRemote() throws(ReplayError) -> RemoteBackend {
        guard let host else { throw .configuration("--backend remote needs --host ADDR") }
        var secret: [UInt8]?
        do throws(EndpointError) {
            secret = try SecretFile.read(secretFile ?? SecretFile.defaultPath)
        } catch {
            // A Unix socket authenticates by the peer's uid; TCP needs the secret.
            if case .tcp = host { throw .configuration(error.message) }
            if secretFile != nil { throw .configuration(error.message) }
        }
        var remote = RemoteConfiguration(address: host, secret: secret)
        if let clientName { remote.name = clientName }
        do throws(TmemError) {
            return try RemoteBackend(configuration: remote)
        } catch {
            throw .configuration(error.message)
        }
    }
}
