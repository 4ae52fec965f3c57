import ArgumentParser

/// `tmem`: transcendent memory for Linux userspace, from the command line.
@main
struct TmemCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tmem",
        abstract: "Transcendent memory for Linux userspace: frontswap over compressed RAM, a host, or a swap file.",
        subcommands: [DemoCommand.self, ReplayCommand.self, BenchCommand.self, GenTraceCommand.self],
        defaultSubcommand: nil
    )
}

extension BackendKind: ExpressibleByArgument {}
extension CompressionAlgorithm: ExpressibleByArgument {}

/// The options that choose a backend, shared by the commands that build one.
struct BackendOptions: ParsableArguments {
    @Option(help: "The transcendent memory backend: \(BackendKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var backend: BackendKind = .ram

    @Option(help: "The backend's capacity: bytes, or with a KiB/MiB/GiB suffix (default 64MiB).", transform: parseCapacity)
    var capacity: Int?

    /// Whether the user chose a capacity (commands may pick a default that suits them).
    var capacityWasSet: Bool { capacity != nil }

    @Option(help: "Zcache's compressor: \(CompressionAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")).")
    var compressor: CompressionAlgorithm = .lz4

    @Option(help: "Zcache's zstd level, or LZ4 acceleration (default: the compressor's own).")
    var level: Int?

    var configuration: BackendConfiguration {
        BackendConfiguration(kind: backend, capacity: capacity ?? 64 << 20, compressor: compressor, level: level)
    }
}

func parseCapacity(_ text: String) throws -> Int {
    guard let bytes = parseByteCount(text) else {
        throw ValidationError("'\(text)' is not a size: use bytes or a KiB/MiB/GiB suffix, e.g. 8MiB")
    }
    return bytes
}

import TmemCompression
import TmemReplay
