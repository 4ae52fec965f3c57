import Testing
import Tmem
import TmemReplay
import TmemSwapFile

/// The built `tmem` run as a subprocess, its output compared with the text it must print.
@Suite(.enabled(if: tmemExecutable != nil, "no tmem executable beside the test bundle: run `swift build` first"))
struct ToolOutputTests {
    private let tool = tmemExecutable ?? ""

    /// A corpus of `pages` pages, page K filled with the byte K+1.
    private func makeCorpus(_ directory: TemporaryDirectory, pages: Int) throws -> String {
        let path = directory.file("corpus")
        try writeFile(path, (0..<pages).flatMap { [UInt8](repeating: UInt8($0 + 1), count: pageSize) })
        return path
    }

    /// FNV-1a 64 of a page filled with `byte`, as `tmem replay` prints it (16 hex digits).
    private func hash(ofPageFilledWith byte: UInt8) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for _ in 0..<pageSize { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    @Test func genTracePrintsTheGeneratorsTrace() throws {
        let run = try runTool(
            tool, ["gen-trace", "--operations", "300", "--areas", "2", "--pages", "64", "--corpus-pages", "32", "--seed", "7"])
        var rng = SeededGenerator(seed: 7)
        let operations = TraceGenerator(areas: 2, pagesPerArea: 64, corpusPages: 32)
            .generate(operations: 300, using: &rng)
        #expect(run.exitCode == 0)
        #expect(run.standardError == "")
        #expect(run.standardOutput == operations.map { "\($0)\n" }.joined())
        #expect(run.standardOutput.hasPrefix("init 0 64\ninit 1 64\n"), "\(run.standardOutput.prefix(40))")
        let lines = run.standardOutput.split(separator: "\n")
        #expect(lines.count == operations.count)
        #expect(try lines.allSatisfy { try TraceOperation.parse(Array($0.utf8)) != nil }, "every line parses back")
    }

    @Test func replayAnswersEachLine() throws {
        let directory = TemporaryDirectory(prefix: "tmem-cli-test")
        let corpus = try makeCorpus(directory, pages: 4)
        let trace = """
            init 0 8
            store 0 1 0
            store 0 2 1
            load 0 1
            # comments and blank lines are skipped

            load 0 3
            invalidate 0 1
            load 0 1
            load 0 2
            stats
            bogus

            """
        let run = try runTool(tool, ["replay", "--corpus", corpus, "--backend", "ram", "--capacity", "1MiB"], input: trace)
        #expect(run.exitCode == 0)
        #expect(run.standardError == "")
        #expect(
            run.standardOutput == """
                ok
                tmem
                tmem
                tmem \(hash(ofPageFilledWith: 1))
                none
                ok
                none
                tmem \(hash(ofPageFilledWith: 2))
                succ_stores=2 failed_stores=0 loads=2 invalidates=1 curr_pages=1
                error line 12: unknown operation 'bogus'

                """
        )
    }

    @Test func replayOverAFullPoolSendsPagesToTheSwapFile() throws {
        let directory = TemporaryDirectory(prefix: "tmem-cli-test")
        let corpus = try makeCorpus(directory, pages: 4)
        let trace = "init 0 8\nstore 0 1 0\nstore 0 2 1\nload 0 1\nload 0 2\nstats\n"
        let run = try runTool(tool, ["replay", "--corpus", corpus, "--backend", "ram", "--capacity", "4KiB"], input: trace)
        #expect(run.exitCode == 0)
        #expect(
            run.standardOutput == """
                ok
                tmem
                disk
                tmem \(hash(ofPageFilledWith: 1))
                disk \(hash(ofPageFilledWith: 2))
                succ_stores=1 failed_stores=1 loads=1 invalidates=0 curr_pages=1

                """
        )
    }

    @Test func aGeneratedTraceReplaysWithoutErrors() throws {
        let directory = TemporaryDirectory(prefix: "tmem-cli-test")
        let corpus = try makeCorpus(directory, pages: 16)
        let trace = try runTool(
            tool, ["gen-trace", "--operations", "2000", "--areas", "2", "--pages", "32", "--corpus-pages", "16"])
        try #require(trace.exitCode == 0)
        let run = try runTool(
            tool, ["replay", "--corpus", corpus, "--backend", "zcache", "--capacity", "64KiB"], input: trace.standardOutput)
        #expect(run.exitCode == 0)
        let answers = run.standardOutput.split(separator: "\n")
        #expect(answers.count == trace.standardOutput.split(separator: "\n").count, "one answer per operation")
        #expect(!answers.contains { $0.hasPrefix("error") }, "\(answers.filter { $0.hasPrefix("error") }.prefix(3))")
        #expect(answers.contains { $0.hasPrefix("disk ") }, "a 64 KiB pool sends pages to the swap file")
    }

    @Test func aMissingCorpusExitsWithStatus2AndTheReason() throws {
        let run = try runTool(tool, ["replay", "--corpus", "/nonexistent/pages.bin"])
        #expect(run.exitCode == 2)
        #expect(run.standardOutput == "")
        #expect(run.standardError == "tmem replay: cannot open corpus /nonexistent/pages.bin: No such file or directory\n")
    }

    @Test func aBadCapacityExitsWithStatus64AndSaysWhy() throws {
        let run = try runTool(tool, ["replay", "--corpus", "c", "--capacity", "lots"])
        #expect(run.exitCode == 64)
        #expect(run.standardOutput == "")
        #expect(
            run.standardError.hasPrefix(
                "Error: The value 'lots' is invalid for '--capacity <capacity>': 'lots' is not a size: use bytes, "
                    + "a KiB/MiB/GiB suffix (8MiB) or a percent of RAM (20%)\n"),
            "\(run.standardError)"
        )
    }
}
