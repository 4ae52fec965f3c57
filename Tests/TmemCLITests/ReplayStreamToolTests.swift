#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Testing
import Tmem
import TmemSwapFile

/// `tmem replay` and `tmem gen-trace` as stream tools: answers as they are due, output errors reported,
/// a closed pipe a quiet stop, and input of any size held to bounds.
@Suite(.enabled(if: tmemExecutable != nil, "no tmem executable beside the test bundle: run `swift build` first"))
struct ReplayStreamToolTests {
    private let tool = tmemExecutable ?? ""

    @Test func eachAnswerComesBeforeTheNextLineIsWritten() throws {
        let directory = TemporaryDirectory(prefix: "tmem-cli-test")
        let corpus = try makeCorpus(directory, pages: 2)
        let replay = try CoProcess(tool, ["replay", "--corpus", corpus, "--capacity", "4KiB"])
        for (line, answer) in [("init 0 8", "ok"), ("store 0 1 0", "tmem"), ("store 0 2 1", "disk"), ("load 0 3", "none")] {
            replay.send(line)
            #expect(replay.receive() == answer, "the answer to \(line) is not held back")
        }
        replay.closeInput()
        #expect(replay.receive() == nil)
        #expect(replay.wait() == 0)
    }

    @Test(arguments: [["replay"], ["gen-trace", "--operations", "10"]])
    func aFullOutputIsAnErrorExit(command: [String]) throws {
        let directory = TemporaryDirectory(prefix: "tmem-cli-test")
        let corpus = try makeCorpus(directory, pages: 2)
        let arguments = command == ["replay"] ? ["replay", "--corpus", corpus] : command
        let run = try runTool(tool, arguments, input: "init 0 4\nstats\n", standardOutput: "/dev/full")
        #expect(run.exitCode == 2)
        #expect(run.standardError == "tmem \(command[0]): cannot write the output: No space left on device\n")
    }

    @Test func replayStopsQuietlyWhenItsReaderGoesAway() throws {
        let directory = TemporaryDirectory(prefix: "tmem-cli-test")
        let corpus = try makeCorpus(directory, pages: 2)
        let replay = try CoProcess(tool, ["replay", "--corpus", corpus])
        replay.send("init 0 8")
        #expect(replay.receive() == "ok")
        replay.closeOutput()
        replay.send("stats")
        replay.send("stats")
        #expect(replay.wait() == 0, "EPIPE ends it with status 0, not SIGPIPE")
        #expect(replay.standardError == "")
    }

    @Test func genTraceStopsQuietlyWhenItsReaderGoesAway() throws {
        let generator = try CoProcess(tool, ["gen-trace", "--operations", "2000000"])
        #expect(generator.receive() == "init 0 4096")
        generator.closeOutput()
        #expect(generator.wait() == 0, "EPIPE ends it with status 0, not SIGPIPE")
        #expect(generator.standardError == "")
    }

    @Test func aLongLineIsAnsweredOnceAndSkipped() throws {
        let directory = TemporaryDirectory(prefix: "tmem-cli-test")
        let corpus = try makeCorpus(directory, pages: 2)
        let trace = "init 0 4\nload 0 " + String(repeating: "9", count: 1 << 20) + "\nstats\n"
        let run = try runTool(tool, ["replay", "--corpus", corpus], input: trace)
        #expect(run.exitCode == 0)
        #expect(run.standardOutput == """
            ok
            error line 2: line longer than 4096 bytes
            succ_stores=0 failed_stores=0 loads=0 invalidates=0 curr_pages=0

            """)
    }

    @Test func aLongCommentIsSkippedLikeAShortOne() throws {
        let directory = TemporaryDirectory(prefix: "tmem-cli-test")
        let corpus = try makeCorpus(directory, pages: 2)
        let trace = "  # " + String(repeating: "x", count: 10_000) + "\nstats\n"
        let run = try runTool(tool, ["replay", "--corpus", corpus], input: trace)
        #expect(run.exitCode == 0)
        #expect(run.standardOutput == "succ_stores=0 failed_stores=0 loads=0 invalidates=0 curr_pages=0\n")
    }

    @Test func errorsQuoteTheLineBoundedAndEscaped() throws {
        let directory = TemporaryDirectory(prefix: "tmem-cli-test")
        let corpus = try makeCorpus(directory, pages: 1)
        let run = try runTool(
            tool, ["replay", "--corpus", corpus],
            input: "bogus\u{7}\nload 0 \(String(repeating: "7", count: 300))\n#\u{301} comment\ninit 0 4\nstore 0 0 1\n")
        #expect(run.exitCode == 0)
        #expect(run.standardOutput == """
            error line 1: unknown operation 'bogus\\x07'
            error line 2: OFFSET a 300-digit number is too large (at most 9223372036854775807)
            ok
            error line 5: corpus page 1 is out of range (the corpus has 1 page)

            """)
    }

    @Test func anAreaLargerThanTheDiskIsRefused() throws {
        let directory = TemporaryDirectory(prefix: "tmem-cli-test")
        let corpus = try makeCorpus(directory, pages: 1)
        let run = try runTool(tool, ["replay", "--corpus", corpus, "--swap-file", directory.file("swap")], input: "init 0 4294967295\ninit 0 4\n")
        #expect(run.exitCode == 0)
        #expect(run.standardOutput.hasPrefix(
            "error line 1: init 0 4294967295: 4294967295 slots at \(directory.file("swap")) need 16.0 TiB, but its file system has "),
            "\(run.standardOutput)")
        #expect(run.standardOutput.hasSuffix(" free\nok\n"))
    }

    @Test func aZstdBombIsRefusedBeforeItIsExpanded() throws {
        let directory = TemporaryDirectory(prefix: "tmem-cli-test")
        let bomb = directory.file("bomb.zst")
        try writeFile(bomb, zstdRLEFrame(blocks: 16384, declaringSize: true))  // 64 KiB that declare 2 GiB
        let run = try runTool(tool, ["replay", "--corpus", bomb], input: "init 0 4\n")
        #expect(run.exitCode == 2)
        #expect(run.standardOutput == "")
        #expect(run.standardError.hasPrefix("tmem replay: corpus \(bomb) declares 2.0 GiB of pages (its Zstandard frame header), more than the limit of "))
        #expect(run.standardError.hasSuffix("; raise it with --max-corpus\n"))
    }

    @Test func aDirectoryAsCorpusIsSaidToBeOne() throws {
        let directory = TemporaryDirectory(prefix: "tmem-cli-test")
        let run = try runTool(tool, ["replay", "--corpus", directory.path])
        #expect(run.exitCode == 2)
        #expect(run.standardError == "tmem replay: corpus \(directory.path) is a directory, not a file of pages\n")
    }
}

/// A Zstandard frame of `blocks` RLE blocks of 128 KiB of zeros: 4 bytes of input per 128 KiB of content.
func zstdRLEFrame(blocks: Int, declaringSize: Bool) -> [UInt8] {
    var frame: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD, declaringSize ? 0xC0 : 0x00, 0x38]
    if declaringSize { frame += withUnsafeBytes(of: (UInt64(blocks) << 17).littleEndian, Array.init) }
    for i in 0..<blocks {
        let header = UInt32(i == blocks - 1 ? 1 : 0) | 1 << 1 | UInt32(1 << 17) << 3
        frame += [UInt8(header & 0xff), UInt8(header >> 8 & 0xff), UInt8(header >> 16), 0]
    }
    return frame
}
