import Tmem
import TmemReplay
import TmemTestKit

/// A corpus file of generated pages of every kind, in a temporary directory, and replayers over it.
final class ReplayFixture {
    let directory = TemporaryDirectory(prefix: "tmem-replay")
    let corpusPath: String
    let corpus: PageCorpus
    let pages: [[UInt8]]

    init(pageCount: Int = 256, seed: UInt64 = 42) throws {
        var rng = SeededGenerator(seed: seed)
        pages = (0..<pageCount).map { i in PageKind.allCases[i % PageKind.allCases.count].makePage(using: &rng) }
        corpusPath = directory.file("corpus.bin")
        try writeFile(corpusPath, pages.flatMap { $0 })
        corpus = try PageCorpus(path: corpusPath)
    }

    func replayer(capacity: Int, exclusiveLoads: Bool = false, kind: BackendKind = .ram) -> Replayer {
        Replayer(
            backend: try! BackendConfiguration(kind: kind, capacity: capacity).makeBackend(), corpus: corpus,
            swapFiles: .init(path: directory.file("swap"), removeOnClose: true), exclusiveLoads: exclusiveLoads)
    }

    /// Replays a trace given as text and returns the output lines.
    func run(_ trace: String, capacity: Int = 1 << 20, exclusiveLoads: Bool = false) -> [String] {
        let r = replayer(capacity: capacity, exclusiveLoads: exclusiveLoads)
        return trace.split(separator: "\n", omittingEmptySubsequences: false).compactMap { line in
            do { return try r.replay(line: Array(line.utf8)) } catch { return "stopped: \(error)" }
        }
    }

    func hash(_ k: Int) -> String { pages[k].withUnsafeBytes { hex16(fnv1a64($0)) } }
}

#if canImport(Glibc)
import Glibc
import TmemSwapFile
#endif

func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw ReplayError.input("cannot create \(path)") }
    defer { close(fd) }
    let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    guard n == bytes.count else { throw ReplayError.input("short write to \(path)") }
}
