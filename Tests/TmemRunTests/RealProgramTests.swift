#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Testing
import Tmem
import TmemRunWorkloads
import TmemSwapFile
import TmemTestKit

/// Programs nobody here wrote (python3, sort, sqlite3), run unpaged and then under `tmem run` (the real
/// executable, as a subprocess) at a quarter of their unpaged peak (half for the fork): the output must be identical, the
/// process tree's resident memory, sampled every 2 ms, within the budget plus 5%, the run must really
/// page (evictions and faults from the store), and nothing may be left behind: no file in the run's
/// TMPDIR, no process carrying the run's marker in its environment.
///
/// Serialized: each run wants the machine's two cores, and the budgets assume no other big program.
@Suite(.serialized) struct RealProgramTests {
    static let python = PythonInterpreter.find()

    @Test(.enabled(if: python != nil, "no python3 in PATH"))
    func pythonListsDictsAndArrays() throws {
        let python = try #require(Self.python)
        let scratch = TemporaryDirectory(prefix: "tmem-run-python")
        let script = scratch.file("job.py")
        try writeWholeFile(script, Array(Workloads.listsDictsArrays.utf8))
        if !python.hasNumpy { print("tmem run test: \(python.path) cannot import numpy: the arrays part is left out") }
        try checkPagedRunMatchesUnpaged("python", [python.path, script], scratch: scratch)
    }

    @Test(.enabled(if: python?.hasNumpy == true, "no python3 in PATH that imports numpy (its threads fault in parallel)"))
    func pythonThreadsWritingOwnAndSharedArrays() throws {
        let python = try #require(Self.python)
        let scratch = TemporaryDirectory(prefix: "tmem-run-threads")
        let script = scratch.file("threads.py")
        try writeWholeFile(script, Array(Workloads.threads.utf8))
        try checkPagedRunMatchesUnpaged("python-threads", [python.path, script], scratch: scratch)
    }

    @Test(.enabled(if: python != nil && whereIs("sort") != nil && whereIs("sha256sum") != nil, "no python3, sort or sha256sum"))
    func pythonForkWithoutExecAndSubprocesses() throws {
        let python = try #require(Self.python)
        let scratch = TemporaryDirectory(prefix: "tmem-run-fork")
        let script = scratch.file("fork.py")
        try writeWholeFile(script, Array(Workloads.fork.utf8))
        // At half its peak, not a quarter: parent and child share most of their memory copy-on-write, and a
        // shared page cannot be moved out (EBUSY) until one of them writes it. At a quarter the child was left
        // too little room and the run could stall (docs/RUN.md, session 8).
        let run = try checkPagedRunMatchesUnpaged("python-fork", [python.path, script], scratch: scratch, divisor: 2)
        #expect(run.forks >= 1, "the child was not forked under the monitor")
    }

    @Test(.enabled(if: whereIs("sort") != nil, "no sort in PATH"))
    func sortOfAFileBiggerThanTheBudget() throws {
        let scratch = TemporaryDirectory(prefix: "tmem-run-sort")
        let input = scratch.file("lines")
        var random = seededGenerator("tmem run sort input", default: 0x50_27)
        let text = Workloads.sortInput(lines: 400_000, seed: random.next())
        try writeWholeFile(input, text)
        // Its buffer (64 MiB) is far above the budget, so the whole input is held and sorted in memory.
        try checkPagedRunMatchesUnpaged("sort", ["sort", "-S", "64M", "--parallel=2", input], scratch: scratch)
    }

    @Test(.enabled(if: whereIs("sqlite3") != nil, "no sqlite3 in PATH"))
    func sqliteInMemoryDatabaseBiggerThanTheBudget() throws {
        let scratch = TemporaryDirectory(prefix: "tmem-run-sqlite")
        let script = scratch.file("job.sql")
        try writeWholeFile(script, Array(Workloads.sqlite.utf8))
        try checkPagedRunMatchesUnpaged("sqlite3", ["sqlite3", ":memory:", ".read \(script)"], scratch: scratch)
    }

    /// Runs `arguments` unpaged, then under `tmem run --budget <its peak / divisor>`, and checks what the
    /// suite promises. Returns the paged run's last statistics.
    @discardableResult
    func checkPagedRunMatchesUnpaged(
        _ name: String, _ arguments: [String], scratch: TemporaryDirectory, divisor: Int = 4
    ) throws -> RunFigures {
        let tmem = try #require(tmemExecutable, "the tmem executable is not built beside the tests")
        let mark = "TMEM_RUN_TEST_MARK=\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let plain = try runSampled(arguments, environment: [mark], outputs: scratch.file("plain"))
        try #require(plain.end == .exited(0), "\(name) failed unpaged: \(plain.errors.suffix(2000))")

        let budget = max((plain.peakResidentBytes / divisor) >> 20, 8) << 20
        let allowed = budget + budget / 20
        let runDirectory = TemporaryDirectory(prefix: "tmem-run-tmpdir")
        let stats = scratch.file("stats.jsonl")
        let paged = try runSampled(
            [tmem, "run", "--budget", "\(budget)", "--stats", stats, "--stats-every", "1", "--"] + arguments,
            environment: [mark, "TMPDIR=\(runDirectory.path)"], outputs: scratch.file("paged"), belowRoot: true,
            exactAbove: allowed)
        let report = paged.errors.split(separator: "\n").filter { $0.hasPrefix("tmem run") || $0.hasPrefix("  ") }
        print("""
            tmem run test \(name): unpaged peak \(plain.peakResidentBytes >> 20) MiB in \(rounded(plain.seconds)) s; \
            budget \(budget >> 20) MiB: peak \(paged.peakResidentBytes >> 20) MiB (\(paged.samples) samples) in \
            \(rounded(paged.seconds)) s
            \(report.joined(separator: "\n"))
            """)
        try #require(paged.end == .exited(0), "\(name) failed under tmem run: \(paged.errors.suffix(3000))")
        #expect(
            firstDifference(plain.output, paged.output) == nil,
            "\(name)'s output differs at byte \(firstDifference(plain.output, paged.output) ?? 0) of \(plain.output.count)")
        #expect(
            paged.peakResidentBytes <= allowed,
            "\(name)'s tree held \(paged.peakResidentBytes) bytes resident, over the budget \(budget) plus 5%")
        let figures = try RunFigures(lastLineOf: String(decoding: readWholeFile(stats), as: UTF8.self))
        #expect(figures.evictions > 0 && figures.storeFaults > 0, "\(name) was not paged: \(figures)")
        #expect(entries(of: runDirectory.path).isEmpty, "left in TMPDIR: \(entries(of: runDirectory.path))")
        #expect(processesCarrying(mark).isEmpty, "processes left running: \(processesCarrying(mark))")
        return figures
    }
}

/// The figures of a `--stats` JSON line the tests look at.
struct RunFigures: CustomStringConvertible {
    var evictions = 0
    var storeFaults = 0
    var forks = 0
    var line: Substring

    init(lastLineOf text: String) throws {
        line = try #require(text.split(separator: "\n").last, "no statistics were written")
        let values = statisticsNumbers(line)
        func value(_ key: String) -> Int { values[key].map { Int($0) } ?? -1 }
        evictions = value("evictions")
        storeFaults = value("faults_memory") + value("faults_disk")
        forks = value("forks")
    }

    var description: String { String(line) }
}

/// A python3 to run the scripts with: the real executable behind PATH's `python3` (a pyenv shim is a
/// shell script), and whether it imports numpy.
struct PythonInterpreter {
    var path: String
    var hasNumpy: Bool

    static func find() -> PythonInterpreter? {
        guard whereIs("python3") != nil else { return nil }
        let scratch = TemporaryDirectory(prefix: "tmem-run-python-probe")
        let probe = """
            import sys
            try:
                import numpy
                print(sys.executable, 1)
            except ImportError:
                print(sys.executable, 0)
            """
        guard (try? writeWholeFile(scratch.file("probe.py"), Array(probe.utf8))) != nil,
              let run = try? runSampled(["python3", scratch.file("probe.py")], environment: [], outputs: scratch.file("probe")),
              run.end == .exited(0) else { return nil }
        let words = String(decoding: run.output, as: UTF8.self).split(whereSeparator: \.isWhitespace)
        guard words.count == 2, access(String(words[0]), X_OK) == 0 else { return nil }
        return PythonInterpreter(path: String(words[0]), hasNumpy: words[1] == "1")
    }
}

func firstDifference(_ a: [UInt8], _ b: [UInt8]) -> Int? {
    if let i = a.indices.first(where: { $0 < b.count && a[$0] != b[$0] }) { return i }
    return a.count == b.count ? nil : min(a.count, b.count)
}

func rounded(_ seconds: Double) -> Double { (seconds * 100).rounded() / 100 }

/// The `tmem` executable of this build, beside the test bundle (`swift test` builds every product).
let tmemExecutable: String? = {
    var buffer = [CChar](repeating: 0, count: 4096)
    let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard length > 0 else { return nil }
    var directory = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    while let last = directory.last, last != "/" { directory.removeLast() }
    return [directory + "tmem", directory + "../tmem"].first { access($0, X_OK) == 0 }
}()
