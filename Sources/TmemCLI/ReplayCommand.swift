import ArgumentParser
import Tmem
import TmemReplay
import TmemSwapFile
#if canImport(Glibc)
import Glibc
#endif

/// `tmem replay`: replays a swap trace from standard input against a backend configuration and prints
/// one result line per operation (see `Replayer` for the format).
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay a swap trace (standard input) against a backend; print one result line per operation.",
        discussion: """
            Trace lines: init TYPE PAGES | store TYPE OFFSET K | load TYPE OFFSET | invalidate TYPE OFFSET |
            invalidate-area TYPE | shrink TARGET | stats. Blank lines and lines starting with # are skipped.
            Output: ok | tmem | disk | tmem HASH | disk HASH | none | ok N | succ_stores=... curr_pages=...,
            or "error <reason>" for a line that cannot be carried out (nothing stored is lost).
            HASH is FNV-1a 64 of the page's 4096 bytes. Area 0's swap file is PATH, area T's is PATH.T.
            """
    )

    @Option(help: "A file of 4096-byte pages (raw, or Zstandard-compressed .zst); page K is bytes K*4096..<(K+1)*4096.")
    var corpus: String

    @OptionGroup var backend: BackendOptions

    @Flag(help: "Loads from transcendent memory also drop the page there.")
    var exclusiveLoads = false

    @Option(help: "The backing swap file (area T > 0 uses PATH.T); without it, temporary files are made and removed at exit.")
    var swapFile: String?

    @Flag(help: "Open the swap files with O_DIRECT.")
    var directIO = false

    @Flag(help: "Take store's K modulo the corpus size (for traces recorded by `tmem demo --record-trace`).")
    var wrapCorpus = false

    func run() throws {
        let corpus: PageCorpus
        do { corpus = try PageCorpus(path: self.corpus) } catch {
            printError("tmem replay: \(error)")
            throw ExitCode(2)
        }
        let temporary = swapFile == nil ? try TemporaryDirectory(making: "tmem") : nil
        let files = Replayer.SwapFiles(
            path: swapFile ?? temporary!.file("swap"), removeOnClose: swapFile == nil, directIO: directIO)
        let replayer = Replayer(
            backend: try backend.configuration().makeBackend(), corpus: corpus, swapFiles: files,
            exclusiveLoads: exclusiveLoads, wrapCorpus: wrapCorpus)
        let output = LineWriter(fd: 1)
        do {
            try LineReader(fd: 0).forEachLine { line in
                if let answer = replayer.replay(line: line) { output.writeLine(answer) }
            }
        } catch {
            output.flush()
            printError("tmem replay: \(error)")
            throw ExitCode(2)
        }
        output.flush()
    }
}

func printError(_ message: String) {
    var text = message + "\n"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}
