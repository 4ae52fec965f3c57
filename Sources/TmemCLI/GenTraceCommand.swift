import ArgumentParser
import Tmem
import TmemReplay

/// `tmem gen-trace`: writes a random swap trace, for sizing experiments and replay benchmarks.
struct GenTraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gen-trace",
        abstract: "Write a random swap trace in the replay format to standard output."
    )

    @Option(help: "Operations after the inits.") var operations = 100_000
    @Option(help: "Number of areas.") var areas = 2
    @Option(help: "Slots per area.") var pages = 4096
    @Option(help: "Corpus pages to draw from.") var corpusPages = 16384
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Flag(help: "Leave out invalidate-area and re-init.") var noAreaInvalidation = false

    func validate() throws {
        guard operations >= 0, areas > 0, areas <= 32, pages > 0, corpusPages > 0 else {
            throw ValidationError("operations must be >= 0, areas 1...32, pages and corpus pages > 0")
        }
    }

    func run() {
        var rng = SeededGenerator(seed: seed)
        let generator = TraceGenerator(
            areas: areas, pagesPerArea: pages, corpusPages: corpusPages,
            includeAreaInvalidation: !noAreaInvalidation)
        let output = LineWriter(fd: 1)
        for operation in generator.generate(operations: operations, using: &rng) {
            output.writeLine(operation.description)
        }
        output.flush()
    }
}

