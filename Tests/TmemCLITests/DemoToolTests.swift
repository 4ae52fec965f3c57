#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Testing
import Tmem
import TmemSwapFile
import TmemTestKit

/// `tmem demo` as a user runs it: sizes the machine cannot hold are refused up front, a swap file that
/// fills up shows as failed evictions and a budget overrun with a failing exit, and output that cannot
/// be written is an error.
@Suite(.enabled(if: tmemExecutable != nil, "no tmem executable beside the test bundle"))
struct DemoToolTests {
    private let tool = tmemExecutable ?? ""

    @Test func sizesThatMakeNoSenseAreRefusedWithTheReason() throws {
        let tiny = try runTool(tool, ["demo", "--region", "4096"])
        #expect(tiny.exitCode == 64)
        #expect(
            tiny.standardError.hasPrefix("Error: --region 4.0 KiB is too small: a region is at least 64.0 KiB"),
            "the region is what is wrong, not a budget nobody gave: \(tiny.standardError)")

        let overBudget = try runTool(tool, ["demo", "--region", "1MiB", "--budget", "2MiB"])
        #expect(overBudget.exitCode == 64)
        #expect(overBudget.standardError.contains("--budget 2.0 MiB is larger than the region (1.0 MiB)"), "\(overBudget.standardError)")
    }

    @Test func moreMemoryThanTheMachineHasIsRefused() throws {
        let run = try runTool(tool, ["demo", "--region", "1MiB", "--capacity", "100%"])
        #expect(run.exitCode == 64)
        #expect(run.standardError.contains("of RAM, but this machine has"), "\(run.standardError)")
        #expect(run.standardOutput.isEmpty, "nothing ran")
    }

    @Test(.enabled(if: geteuid() == 0, "mounting a tmpfs needs root"))
    func aSwapFileLargerThanItsDiskIsRefused() throws {
        let disk = try #require(SmallFileSystem(bytes: 1 << 20))
        defer { disk.unmount() }
        let run = try runTool(tool, ["demo", "--region", "64MiB"], environment: ["TMPDIR=\(disk.directory.path)"])
        #expect(run.exitCode == 64)
        #expect(run.standardError.contains("the swap file may grow to 64.0 MiB in \(disk.directory.path)"), "\(run.standardError)")
    }

    @Test(.enabled(if: geteuid() == 0, "mounting a tmpfs needs root"))
    func aDiskThatFillsUpShowsAsFailedEvictionsAndAFailingExit() throws {
        // The swap file's disk has room when the demo checks it, and is filled by someone else as soon as
        // the demo has started: evictions (all of them to the swap file, as the compressed pool is too
        // small for any page) fail from the first on, which the demo reaches only after touching three
        // quarters of its region.
        let disk = try #require(SmallFileSystem(bytes: 33 << 20))
        defer { disk.unmount() }
        let demo = try CoProcess(
            tool, ["demo", "--region", "32MiB", "--budget", "24MiB", "--capacity", "64KiB"],
            environment: ["TMPDIR=\(disk.directory.path)"])
        let header = try #require(demo.receive(), "the demo starts: \(demo.standardError)")
        #expect(header.hasPrefix("tmem demo:"))
        disk.fill()
        var lines: [String] = []
        while let line = demo.receive(within: 60) { lines.append(line) }
        let output = lines.joined(separator: "\n")
        #expect(demo.wait() == 1, "\(output)\n\(demo.standardError)")
        #expect(output.contains("EVICTIONS FAILED"), "\(output)")
        #expect(output.contains("BUDGET EXCEEDED"))
        #expect(output.contains("every byte verified"), "no page was lost for want of disk")
    }

    @Test func aTraceIsNeverWrittenOverAFileWithDataInIt() throws {
        let directory = TemporaryDirectory(prefix: "tmem-cli-test")
        let path = directory.file("thesis.tex")
        try writeFile(path, "\\documentclass{article}\n")
        let run = try runTool(tool, ["demo", "--region", "1MiB", "--record-trace", path])
        #expect(run.exitCode != 0)
        #expect(run.standardError.contains("refusing to write a trace over \(path)"), "\(run.standardError)")
        #expect(try readFile(path) == "\\documentclass{article}\n", "the file is untouched")
    }

    @Test func outputThatCannotBeWrittenIsAnError() throws {
        let run = try runTool(tool, ["demo", "--region", "1MiB"], standardOutput: "/dev/full")
        #expect(run.exitCode == 2)
        #expect(run.standardError.contains("tmem demo: cannot write the output: No space left on device"), "\(run.standardError)")
    }
}
