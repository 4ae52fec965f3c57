import ArgumentParser
import Tmem
import TmemReplay
#if canImport(Glibc)
import Glibc
#endif

/// `tmem gen-trace`: writes a random swap trace, for sizing experiments and replay benchmarks.
///
/// Its shapes are the ones `tmem replay` accepts: `--pages` is at most 4,294,967,295, frontswap's largest
/// area (replay may still refuse an area larger than its swap file's disk). A failed write (a full disk)
/// is an error exit (status 2, the reason on standard error); a reader that closes the pipe early ends
/// it quietly with 0.
struct GenTraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gen-trace",
        abstract: "Write a random swap trace in the replay format to standard output."
    )

    /// The largest `--pages`: frontswap's largest area (`Frontswap.checkNewArea`: 1...UInt32.max).
    static let maxPages = Int(UInt32.max)

    @Option(help: "Operations after the inits.") var operations = 100_000
    @Option(help: "Number of areas.") var areas = 2
    @Option(help: "Slots per area (1...\(GenTraceCommand.maxPages)).") var pages = 4096
    @Option(help: "Corpus pages to draw from.") var corpusPages = 16384
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Flag(help: "Leave out invalidate-area and re-init.") var noAreaInvalidation = false

    func validate() throws {
        guard operations >= 0, areas > 0, areas <= 32, pages > 0, corpusPages > 0 else {
            throw ValidationError("operations must be >= 0, areas 1...32, pages and corpus pages > 0")
        }
        guard pages <= GenTraceCommand.maxPages else {
            throw ValidationError("pages must be at most \(GenTraceCommand.maxPages), the largest area replay takes")
        }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        var rng = SeededGenerator(seed: seed)
        let generator = TraceGenerator(
            areas: areas, pagesPerArea: pages, corpusPages: corpusPages,
            includeAreaInvalidation: !noAreaInvalidation)
        let output = LineWriter(fd: 1)
        for operation in generator.generate(operations: operations, using: &rng) {
            output.writeLine(operation.description)
            if output.failure != nil { break }
        }
        try finishOutput(output, of: "gen-trace")
    }
}
