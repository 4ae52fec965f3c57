import ArgumentParser

/// `tmem`: transcendent memory for Linux userspace, from the command line.
///
/// The root command of the `tmem` tool; the executable only calls `TmemCommand.main()`. It lives in this
/// library so that tests can parse command lines apart from running them (`TmemCommand.parseAsRoot(_:)`
/// returns the subcommand with its options, or throws the error the tool would print).
public struct TmemCommand: ParsableCommand {
    /// The tool's name, abstract and subcommands: demo, replay, bench, frontswap-demo, gen-trace, stat,
    /// host-demo, cache-demo (and the hidden host-demo-client, which host-demo starts).
    public static let configuration = CommandConfiguration(
        commandName: "tmem",
        abstract: "Transcendent memory for Linux userspace: frontswap over compressed RAM, a host, or a swap file.",
        subcommands: [
            DemoCommand.self, ReplayCommand.self, BenchCommand.self, FrontswapDemoCommand.self, GenTraceCommand.self,
            StatCommand.self, HostDemoCommand.self, HostDemoClientCommand.self, CacheDemoCommand.self, RunCommand.self,
        ],
        defaultSubcommand: nil
    )

    /// Creates the root command (it takes no options of its own; ArgumentParser requires the initializer).
    public init() {}
}

extension BackendKind: ExpressibleByArgument {}
extension CompressionAlgorithm: ExpressibleByArgument {}

/// The options that choose a backend, shared by the commands that build one.
///
/// `--compressor` and `--level` configure Zcache only: with the RAM backend they are refused
/// (``validate(defaultKind:)``) rather than silently ignored.
struct BackendOptions: ParsableArguments {
    @Option(help: "The transcendent memory backend: \(BackendKind.allCases.map(\.rawValue).joined(separator: ", ")) (default: ram; zcache for demo).")
    var backend: BackendKind?

    @Option(help: "The backend's capacity: bytes, a KiB/MiB/GiB suffix, or a percent of RAM such as 20% (default 64MiB).", transform: parseCapacity)
    var capacity: Int?

    /// Whether the user chose a capacity (commands may pick a default that suits them).
    var capacityWasSet: Bool { capacity != nil }

    @Option(help: "Zcache's compressor: \(CompressionAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")) (default lz4).")
    var compressor: CompressionAlgorithm?

    // .unconditional: a negative level (LZ4's acceleration, zstd's fast levels) is a value, not an option.
    @Option(
        parsing: .unconditional,
        help: "Zcache's zstd level, or LZ4 acceleration (default: the compressor's own; negative values are zstd's fast levels).",
        transform: parseLevel)
    var level: Int?

    @OptionGroup var remote: HostOptions
    var host: HostAddress? { remote.host }

    /// Refuses Zcache-only options given with an explicit non-Zcache backend (ArgumentParser calls this
    /// for every command that has these options; commands whose default is not Zcache also call
    /// ``validate(defaultKind:)``).
    func validate() throws {
        if let backend { try validate(defaultKind: backend) }
    }

    /// Refuses Zcache-only options when the backend (chosen, or `kind` by default) is not Zcache.
    ///
    /// - Parameter kind: The command's default backend.
    /// - Throws: `ValidationError` naming the options that would be ignored.
    func validate(defaultKind kind: BackendKind) throws {
        let chosen = backend ?? kind
        if chosen == .remote {
            guard host != nil else { throw ValidationError("--backend remote needs --host ADDR (a tmemd's HOST:PORT or socket path)") }
            guard capacity == nil else { throw ValidationError("--capacity is the host's to set with --backend remote (tmemd --capacity)") }
        }

        guard chosen != .zcache else { return }
        let given = [compressor != nil ? "--compressor" : nil, level != nil ? "--level" : nil].compactMap { $0 }
        guard !given.isEmpty else { return }
        throw ValidationError(
            "\(given.joined(separator: " and ")) configure\(given.count == 1 ? "s" : "") the zcache backend only, "
                + "not --backend \(chosen)\(backend == nil ? " (the default)" : ""): add --backend zcache or leave "
                + (given.count == 1 ? "it" : "them") + " out")
    }

    /// The configuration, with `kind` when no backend was chosen.
    func configuration(defaultKind kind: BackendKind = .ram) -> BackendConfiguration {
        var configuration = BackendConfiguration(
            kind: backend ?? kind, capacity: capacity ?? 64 << 20, compressor: compressor ?? .lz4, level: level)
        configuration.host = remote.host
        configuration.secretFile = remote.secretFile
        configuration.clientName = remote.clientName
        return configuration
    }
}

/// Where a tmemd host is, and how to authenticate to it.
struct HostOptions: ParsableArguments {
    @Option(help: "A tmemd host (HOST:PORT or a Unix socket path): the backend with --backend remote, else the tier behind compressed RAM.", transform: { text in
        do { return try HostAddress.parse(text) } catch { throw ValidationError("\(error)") }
    })
    var host: HostAddress?

    @Option(help: "The host's shared secret (default \(SecretFile.defaultPath)); TCP needs it.")
    var secretFile: String?

    @Option(help: "This client's name at the host, by which its weight and cap are set (default tmem-PID).")
    var clientName: String?

    func validate() throws {
        if host == nil, secretFile != nil || clientName != nil {
            throw ValidationError("--secret-file and --client-name go with --host")
        }
    }

    /// The remote backend, when a host was given.
    func makeRemote() throws -> RemoteBackend? {
        guard host != nil else { return nil }
        var configuration = BackendConfiguration(kind: .remote, capacity: 0)
        configuration.host = host
        configuration.secretFile = secretFile
        configuration.clientName = clientName
        return try configuration.makeRemote()
    }
}

/// Parses `--level`: an integer, negative allowed; too large a number is said to be so.
func parseLevel(_ text: String) throws -> Int {
    if let value = Int(text) { return value }
    let digits = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
    if !digits.isEmpty && digits.allSatisfy({ $0.isASCII && $0.isNumber }) {
        throw ValidationError("'\(text)' is too large for a level")
    }
    throw ValidationError("'\(text)' is not an integer level")
}

func parseCapacity(_ text: String) throws -> Int {
    if text.hasSuffix("%") {
        guard let percent = Int(text.dropLast()), (1...100).contains(percent) else {
            throw ValidationError("'\(text)' is not a percent of RAM: use 1% to 100%")
        }
        return ZcacheConfiguration.limit(percentOfRAM: percent, physicalMemory: physicalMemoryBytes())
    }
    guard let bytes = parseByteCount(text) else {
        throw ValidationError("'\(text)' is not a size: use bytes, a KiB/MiB/GiB suffix (8MiB) or a percent of RAM (20%)")
    }
    return bytes
}

import TmemCompression
import Tmem
import TmemReplay
import TmemZcache
import TmemWire
import TmemRemote
