import ArgumentParser
import Tmem
import TmemReplay
import TmemSwapFile
#if canImport(Glibc)
import Glibc
#endif

/// `tmem replay`: replays a swap trace from standard input against a backend configuration and prints
/// one result line per operation (see `Replayer` for the format).
///
/// Exit status: 0 when the whole trace was read and every answer written (lines answered `error ...`
/// included); 2 when the replay could not start or go on (corpus, swap file, input or output), with one
/// line on standard error saying why; 64 for a command line it refuses. A reader that closes the pipe
/// early (`| head`) ends the replay quietly with 0.
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay a swap trace (standard input) against a backend; print one result line per operation.",
        discussion: """
            Trace lines: init TYPE PAGES | store TYPE OFFSET K | load TYPE OFFSET | invalidate TYPE OFFSET | \
            invalidate-area TYPE | shrink TARGET | stats. Blank lines and lines starting with # are skipped; \
            a line longer than 4096 bytes is answered "error line N: line longer than 4096 bytes". \
            Output: ok | tmem | disk | tmem HASH | disk HASH | none | ok N | succ_stores=... curr_pages=..., \
            or "error line N: <reason>" for a line that cannot be carried out: it changes nothing else, except \
            that a store whose swap file write fails leaves that slot empty (never an older page). HASH is \
            FNV-1a 64 of the page's 4096 bytes. Answers are flushed after each line when standard input is a \
            pipe or a terminal, and always before waiting for more input, so a program can drive the replay \
            line by line.

            Swap files: area 0's is PATH, area T's is PATH.T. Each must be a regular file or a block device \
            (character devices such as /dev/null are refused); it is locked while in use, so a second replay \
            on the same file is refused. An existing file that holds data is refused unless tmem made it \
            (it carries the extended attribute user.tmem.swap) or --force is given; the corpus itself is \
            always refused. init TYPE PAGES asks for PAGES slots that must fit the swap file's disk: PAGES x \
            4096 bytes at most the free space of its file system (a block device: its size), as a swap area \
            is only as big as the disk behind it; frontswap keeps 2 bits of map per slot. Without \
            --swap-file, the files have no name (O_TMPFILE in $TMPDIR or /tmp) and vanish with the process, \
            however it ends.

            The corpus is read into memory, at most --max-corpus bytes after decompression (default 1 GiB or \
            a quarter of RAM, whichever is less). A setup failure (the corpus cannot be read, a swap file \
            cannot be opened, created or locked) or an output that cannot be written stops the replay with \
            status 2 and the reason on standard error; nothing already answered is lost.
            """
    )

    @Option(help: "A file of 4096-byte pages (raw, or Zstandard-compressed .zst); page K is bytes K*4096..<(K+1)*4096.")
    var corpus: String

    @OptionGroup var backend: BackendOptions

    @Flag(help: "Loads from transcendent memory also drop the page there.")
    var exclusiveLoads = false

    @Option(help: "The backing swap file (area T > 0 uses PATH.T); without it, nameless temporary files are used.")
    var swapFile: String?

    @Flag(help: "Overwrite existing swap files that hold data tmem did not write.")
    var force = false

    @Flag(help: "Open the swap files with O_DIRECT.")
    var directIO = false

    @Flag(help: "Take store's K modulo the corpus size (for traces recorded by `tmem demo --record-trace`).")
    var wrapCorpus = false

    @Option(help: "The largest corpus to read, after decompression: bytes or a KiB/MiB/GiB suffix.", transform: parseCorpusLimit)
    var maxCorpus: Int?

    func validate() throws {
        try backend.validate(defaultKind: .ram)
        if force && swapFile == nil { throw ValidationError("--force applies to --swap-file only") }
    }

    func run() throws {
        // A closed pipe must be an EPIPE we can act on, not a signal that ends us silently.
        signal(SIGPIPE, SIG_IGN)
        let corpus: PageCorpus
        do { corpus = try PageCorpus(path: self.corpus, sizeLimit: maxCorpus ?? PageCorpus.defaultSizeLimit) } catch {
            throw fail(error.isLimit ? "\(error); raise it with --max-corpus" : "\(error)")
        }
        let files: Replayer.SwapFiles =
            swapFile.map { .init(path: $0, removeOnClose: false, directIO: directIO, allowExistingData: force) }
            ?? .temporary(directIO: directIO)
        let replayer = Replayer(
            backend: try backend.configuration().makeBackend(), corpus: corpus, swapFiles: files,
            exclusiveLoads: exclusiveLoads, wrapCorpus: wrapCorpus)
        do { try replayer.checkSwapFiles() } catch { throw fail(explain(error)) }

        let output = LineWriter(fd: 1)
        let answerEachLine = standardInputIsInteractive()
        let reader = LineReader(fd: 0)
        do {
            // Flush before blocking for input, and stop there if the reader is gone: a replay whose answers
            // nobody reads must not sit waiting for more lines.
            let flushing = {
                output.flush()
                if output.failure != nil { throw OutputFailed() }
            }
            try reader.forEachLine(beforeRead: flushing) { line in
                if let answer = try replayer.replay(line, maxLineLength: reader.maxLineLength) {
                    output.writeLine(answer)
                    if answerEachLine { output.flush() }
                }
                if output.failure != nil { throw OutputFailed() }
            }
        } catch is OutputFailed {
            // Reported below.
        } catch let error as ReplayError {
            try finishOutput(output, of: "replay")
            throw fail(explain(error))
        }
        try finishOutput(output, of: "replay")
    }

    private func explain(_ error: ReplayError) -> String {
        error.errno == Errno(EEXIST) ? "\(error); pass --force to overwrite it" : "\(error)"
    }

    private func fail(_ message: String) -> ExitCode {
        printError("tmem replay: \(message)")
        return ExitCode(2)
    }
}

/// Thrown out of the line loop when the output has failed: nothing more is worth replaying.
private struct OutputFailed: Error {}

/// Whether standard input is a pipe or a terminal: a peer may be waiting for each answer.
func standardInputIsInteractive() -> Bool {
    var info = stat()
    return isatty(0) == 1 || (fstat(0, &info) == 0 && info.st_mode & S_IFMT == S_IFIFO)
}

/// Parses `--max-corpus`: a byte count of at least one page.
func parseCorpusLimit(_ text: String) throws -> Int {
    guard let bytes = parseByteCount(text) else {
        throw ValidationError("'\(text)' is not a size: use bytes or a KiB/MiB/GiB suffix (2GiB)")
    }
    guard bytes >= 4096 else { throw ValidationError("'\(text)' is less than one page (4096 bytes)") }
    return bytes
}

func printError(_ message: String) {
    var text = message + "\n"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

/// Flushes a command's standard output: a reader gone away (EPIPE, with SIGPIPE ignored) is not an
/// error (the command goes on to its own exit status: a demo whose checks failed still fails), any
/// other failure (a full disk) ends it loudly, with exit status 2.
///
/// - Parameters:
///   - output: The command's writer to standard output.
///   - command: Its name, for the message (`tmem NAME: cannot write the output: ...`).
func finishOutput(_ output: LineWriter, of command: String) throws {
    do throws(Errno) { try output.finish() } catch {
        // The reader went away: nothing to report to it, and the caller goes on to exit as it would have.
        if error == Errno(EPIPE) { return }
        printError("tmem \(command): cannot write the output: \(describeErrno(error.rawValue))")
        throw ExitCode(2)
    }
}
