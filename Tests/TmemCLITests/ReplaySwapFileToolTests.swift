#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Testing
import Tmem
import TmemSwapFile
import TmemTestKit

/// A corpus of `pages` pages in `directory`, page K filled with the byte K+1.
func makeCorpus(_ directory: TemporaryDirectory, pages: Int, name: String = "corpus") throws -> String {
    let path = directory.file(name)
    try writeFile(path, (0..<pages).flatMap { [UInt8](repeating: UInt8($0 + 1), count: pageSize) })
    return path
}


/// `tmem replay`'s swap files, seen from outside: what it refuses to write over, and what it leaves behind.
@Suite(.enabled(if: tmemExecutable != nil, "no tmem executable beside the test bundle: run `swift build` first"))
struct ReplaySwapFileToolTests {
    private let tool = tmemExecutable ?? ""

    @Test func aSwapFileInUseByAnotherReplayIsRefused() throws {
        let directory = TemporaryDirectory(prefix: "tmem-cli-test")
        let corpus = try makeCorpus(directory, pages: 2)
        let shared = directory.file("shared.swap")
        let first = try CoProcess(tool, ["replay", "--corpus", corpus, "--swap-file", shared, "--capacity", "0"])
        first.send("init 0 8")
        #expect(first.receive() == "ok", "the first replay holds the file")
        let second = try runTool(tool, ["replay", "--corpus", corpus, "--swap-file", shared], input: "init 0 8\nstore 0 0 1\n")
        #expect(second.exitCode == 2)
        #expect(second.standardOutput == "")
        #expect(second.standardError == "tmem replay: swap file \(shared) is in use by another process (it holds the file's lock)\n")
        first.send("store 0 0 0")
        #expect(first.receive() == "disk")
        first.closeInput()
        #expect(first.wait() == 0)
    }

    @Test(arguments: ["/dev/zero", "/dev/null", "/dev/full"])
    func aCharacterDeviceIsRefusedAndNothingIsMadeBesideIt(device: String) throws {
        let directory = TemporaryDirectory(prefix: "tmem-cli-test")
        let corpus = try makeCorpus(directory, pages: 2)
        let run = try runTool(tool, ["replay", "--corpus", corpus, "--swap-file", device], input: "init 1 4\nstore 1 0 0\nload 1 0\n")
        #expect(run.exitCode == 2)
        #expect(run.standardOutput == "")
        #expect(run.standardError == "tmem replay: swap file \(device) is a character device: use a regular file or a block device\n")
        #expect(access(device + ".1", F_OK) == -1, "no \(device).1")
    }

    @Test func theCorpusIsNeverOverwritten() throws {
        let directory = TemporaryDirectory(prefix: "tmem-cli-test")
        let corpus = try makeCorpus(directory, pages: 2)
        let before = try readFile(corpus)
        let run = try runTool(tool, ["replay", "--corpus", corpus, "--swap-file", corpus, "--force"], input: "init 0 4\nstore 0 0 1\n")
        #expect(run.exitCode == 2)
        #expect(run.standardError == "tmem replay: swap file \(corpus) is the corpus \(corpus): refusing to write over it\n")
        #expect(try readFile(corpus) == before)
    }

    @Test func someoneElsesFileIsKeptUnlessForced() throws {
        let directory = TemporaryDirectory(prefix: "tmem-cli-test")
        let corpus = try makeCorpus(directory, pages: 2)
        let notes = directory.file("notes.txt")
        try writeFile(notes, "sixteen bytes!!\n")
        let refused = try runTool(tool, ["replay", "--corpus", corpus, "--swap-file", notes], input: "init 0 4\nstore 0 0 1\n")
        #expect(refused.exitCode == 2)
        #expect(
            refused.standardError == "tmem replay: swap file \(notes) already holds 16 bytes that tmem did not write; "
                + "refusing to overwrite them; pass --force to overwrite it\n")
        #expect(try readFile(notes) == "sixteen bytes!!\n")
        let forced = try runTool(
            tool, ["replay", "--corpus", corpus, "--swap-file", notes, "--force", "--capacity", "0"], input: "init 0 4\nstore 0 0 1\nload 0 0\n")
        #expect(forced.exitCode == 0)
        #expect(forced.standardOutput.hasPrefix("ok\ndisk\ndisk "), "\(forced.standardOutput)")
    }

    @Test(.enabled(if: TemporaryDirectory.keepsUserAttributes, "the test directory's file system keeps no user xattrs"))
    func aSwapFileOfAnEarlierReplayIsReusedWithoutForce() throws {
        let directory = TemporaryDirectory(prefix: "tmem-cli-test")
        let corpus = try makeCorpus(directory, pages: 2)
        let swap = directory.file("swap")
        for _ in 0..<2 {
            let run = try runTool(
                tool, ["replay", "--corpus", corpus, "--swap-file", swap, "--capacity", "0"], input: "init 0 4\nstore 0 0 1\n")
            #expect(run.exitCode == 0 && run.standardOutput == "ok\ndisk\n", "\(run.standardError)")
        }
    }

    @Test func theHelpSaysWhatIsRefusedAndWhatAFailureLeaves() throws {
        let run = try runTool(tool, ["help", "replay"])
        let text = run.standardOutput.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(text.contains("--force"))
        #expect(text.contains("user.tmem.swap"))
        #expect(text.contains("a store whose swap file write fails leaves that slot empty (never an older page)"))
        #expect(!text.contains("nothing stored is lost"))
        #expect(text.contains("PAGES x 4096 bytes at most the free space of its file system"))
        #expect(text.contains("--max-corpus"))
    }

    @Test func aSwapFileThatCannotBeMadeIsAnErrorExitAfterTheAnswersSoFar() throws {
        let directory = TemporaryDirectory(prefix: "tmem-cli-test")
        let corpus = try makeCorpus(directory, pages: 2)
        let path = directory.file("missing") + "/swap"
        let run = try runTool(tool, ["replay", "--corpus", corpus, "--swap-file", path], input: "stats\ninit 0 4\nstore 0 0 1\n")
        #expect(run.exitCode == 2)
        #expect(run.standardOutput == "succ_stores=0 failed_stores=0 loads=0 invalidates=0 curr_pages=0\n")
        #expect(run.standardError == "tmem replay: cannot open swap file \(path): No such file or directory\n")
    }

    @Test func aKilledReplayLeavesNoTemporarySwapFile() throws {
        let directory = TemporaryDirectory(prefix: "tmem-cli-test")
        let corpus = try makeCorpus(directory, pages: 2)
        let place = TemporaryDirectory(prefix: "tmem-cli-tmpdir")
        let replay = try CoProcess(tool, ["replay", "--corpus", corpus], environment: ["TMPDIR=\(place.path)"])
        for (line, answer) in [("init 0 64", "ok"), ("init 1 64", "ok"), ("store 0 1 0", "tmem"), ("stats", nil)] {
            replay.send(line)
            let got = replay.receive()
            if let answer { #expect(got == answer, "\(line)") } else { #expect(got != nil) }
        }
        // It now blocks reading the open pipe, with both swap files made.
        replay.kill(SIGKILL)
        #expect(replay.wait() == nil, "killed by the signal")
        #expect(try directoryEntries(place.path) == [], "nothing in TMPDIR outlives the process")
    }
}
