import ArgumentParser
import Testing
import Tmem
import TmemCompression
import TmemPaging
import TmemReplay
import TmemZcache

@testable import TmemCLI

/// Command lines parsed apart from running them: the values each option lands in, and the errors (and
/// exit codes) the tool gives for input it refuses.
struct ParsingTests {
    /// Parses `arguments` as `tmem` does and returns the subcommand, which must be a `Command`.
    private func parse<Command: ParsableCommand>(_ arguments: [String], as _: Command.Type) throws -> Command {
        let parsed = try TmemCommand.parseAsRoot(arguments)
        return try #require(parsed as? Command, "\(arguments) parses as \(type(of: parsed))")
    }

    /// The error `tmem` reports for `arguments`, as it would print it, and its exit code.
    private func refusal(_ arguments: [String]) -> (message: String, exitCode: ExitCode)? {
        do {
            _ = try TmemCommand.parseAsRoot(arguments)
            return nil
        } catch {
            return (TmemCommand.message(for: error), TmemCommand.exitCode(for: error))
        }
    }

    @Test func replayTakesEveryOption() throws {
        let replay = try parse(
            [
                "replay", "--corpus", "pages.bin", "--backend", "zcache", "--capacity", "8MiB", "--compressor", "zstd",
                "--level", "3", "--exclusive-loads", "--swap-file", "/var/tmp/swap", "--direct-io", "--wrap-corpus",
            ],
            as: ReplayCommand.self
        )
        #expect(replay.corpus == "pages.bin")
        #expect(replay.exclusiveLoads && replay.directIO && replay.wrapCorpus)
        #expect(replay.swapFile == "/var/tmp/swap")
        let configuration = replay.backend.configuration()
        #expect(configuration.kind == .zcache)
        #expect(configuration.capacity == 8 << 20)
        #expect(configuration.compressor == .zstd)
        #expect(configuration.level == 3)
    }

    @Test func replayDefaultsToA64MiBRAMPool() throws {
        let replay = try parse(["replay", "--corpus", "pages.bin"], as: ReplayCommand.self)
        #expect(!replay.exclusiveLoads && !replay.directIO && !replay.wrapCorpus)
        #expect(replay.swapFile == nil)
        #expect(!replay.backend.capacityWasSet)
        let configuration = replay.backend.configuration()
        #expect(configuration.kind == .ram)
        #expect(configuration.capacity == 64 << 20)
        #expect(configuration.compressor == .lz4)
        #expect(configuration.level == nil)
        #expect(replay.backend.configuration(defaultKind: .zcache).kind == .zcache)
    }

    @Test(arguments: [("4096", 4096), ("64KiB", 64 << 10), ("8M", 8 << 20), ("1GiB", 1 << 30), ("2tb", 2 << 40)])
    func capacitiesAreSizes(text: String, bytes: Int) throws {
        let replay = try parse(["replay", "--corpus", "c", "--capacity", text], as: ReplayCommand.self)
        #expect(replay.backend.capacity == bytes)
    }

    @Test func aCapacityCanBeAPercentOfRAM() throws {
        let replay = try parse(["replay", "--corpus", "c", "--capacity", "20%"], as: ReplayCommand.self)
        let expected = ZcacheConfiguration.limit(percentOfRAM: 20, physicalMemory: physicalMemoryBytes())
        #expect(replay.backend.capacity == expected)
        #expect(expected > 0)
    }

    @Test(arguments: ["lots", "8XB", "5 MiB", "", "99999999999999999999"])
    func aCapacityThatIsNoSizeIsAValidationError(text: String) throws {
        let (message, exitCode) = try #require(refusal(["replay", "--corpus", "c", "--capacity", text]))
        #expect(message.contains("'\(text)' is not a size"), "\(message)")
        #expect(exitCode == .validationFailure)
    }

    @Test(arguments: ["0%", "101%", "x%"])
    func aPercentOutOfRangeIsAValidationError(text: String) throws {
        let (message, exitCode) = try #require(refusal(["replay", "--corpus", "c", "--capacity", text]))
        #expect(message.contains("'\(text)' is not a percent of RAM: use 1% to 100%"), "\(message)")
        #expect(exitCode == .validationFailure)
    }

    @Test func anUnknownBackendOrCompressorIsRefused() throws {
        let backend = try #require(refusal(["replay", "--corpus", "c", "--backend", "floppy"]))
        #expect(backend.message.contains("floppy"))
        #expect(backend.exitCode == .validationFailure)
        let compressor = try #require(refusal(["replay", "--corpus", "c", "--compressor", "lzma"]))
        #expect(compressor.message.contains("lzma"))
    }

    @Test func replayNeedsACorpus() throws {
        let (message, exitCode) = try #require(refusal(["replay"]))
        #expect(message.contains("--corpus"), "\(message)")
        #expect(exitCode == .validationFailure)
    }

    @Test func genTraceHasItsDefaultsAndTakesItsOptions() throws {
        let defaults = try parse(["gen-trace"], as: GenTraceCommand.self)
        #expect(defaults.operations == 100_000 && defaults.areas == 2 && defaults.pages == 4096)
        #expect(defaults.corpusPages == 16384 && defaults.seed == 1 && !defaults.noAreaInvalidation)
        let given = try parse(
            [
                "gen-trace", "--operations", "10", "--areas", "32", "--pages", "8", "--corpus-pages", "4", "--seed", "9",
                "--no-area-invalidation",
            ],
            as: GenTraceCommand.self
        )
        #expect(given.operations == 10 && given.areas == 32 && given.pages == 8)
        #expect(given.corpusPages == 4 && given.seed == 9 && given.noAreaInvalidation)
    }

    @Test(arguments: [["--areas", "0"], ["--areas", "33"], ["--pages", "0"], ["--corpus-pages", "0"]])
    func genTraceRefusesShapesOutOfRange(options: [String]) throws {
        let (message, exitCode) = try #require(refusal(["gen-trace"] + options))
        #expect(message.contains("operations must be >= 0, areas 1...32, pages and corpus pages > 0"), "\(message)")
        #expect(exitCode == .validationFailure)
    }

    @Test func aNegativeLevelIsAValueNotAnOption() throws {
        let replay = try parse(
            ["replay", "--corpus", "c", "--backend", "zcache", "--compressor", "zstd", "--level", "-1000"], as: ReplayCommand.self)
        #expect(replay.backend.configuration().level == -1000)
        let bench = try parse(["bench", "--corpus", "c", "--level", "-5"], as: BenchCommand.self)
        #expect(bench.level == -5)
        let huge = try #require(refusal(["replay", "--corpus", "c", "--backend", "zcache", "--level", "99999999999999999999"]))
        #expect(huge.message.contains("'99999999999999999999' is too large for a level"), "\(huge.message)")
    }

    @Test(arguments: [
        (["--backend", "ram", "--compressor", "zstd"], "--compressor configures the zcache backend only, not --backend ram"),
        (["--level", "3"], "--level configures the zcache backend only, not --backend ram (the default)"),
        (["--compressor", "none", "--level", "1"], "--compressor and --level configure the zcache backend only"),
    ])
    func zcacheOptionsWithTheRAMBackendAreRefused(options: [String], expected: String) throws {
        let (message, exitCode) = try #require(refusal(["replay", "--corpus", "c"] + options))
        #expect(message.contains(expected), "\(message)")
        #expect(exitCode == .validationFailure)
    }

    @Test func replayTakesForceAndACorpusLimit() throws {
        let replay = try parse(
            ["replay", "--corpus", "c", "--swap-file", "s", "--force", "--max-corpus", "2GiB"], as: ReplayCommand.self)
        #expect(replay.force && replay.maxCorpus == 2 << 30)
        #expect(refusal(["replay", "--corpus", "c", "--force"])?.message.contains("--force applies to --swap-file only") == true)
        #expect(refusal(["replay", "--corpus", "c", "--max-corpus", "100"])?.message.contains("less than one page") == true)
    }

    @Test func genTraceTakesThePagesReplayTakesAndNoMore() throws {
        #expect(try parse(["gen-trace", "--pages", "4294967295"], as: GenTraceCommand.self).pages == 4_294_967_295)
        let (message, exitCode) = try #require(refusal(["gen-trace", "--pages", "4294967296"]))
        #expect(message.contains("pages must be at most 4294967295, the largest area replay takes"), "\(message)")
        #expect(exitCode == .validationFailure)
    }

    @Test func demoTakesSizesAndAPolicy() throws {
        let demo = try parse(
            ["demo", "--region", "256MiB", "--budget", "64MiB", "--capacity", "32MiB", "--policy", "fifo", "--seed", "5"],
            as: DemoCommand.self
        )
        #expect(demo.region == 256 << 20 && demo.budget == 64 << 20 && demo.capacity == 32 << 20)
        #expect(demo.policy == .fifo)
        #expect(demo.seed == 5)
        #expect(demo.recordTrace == nil)
        let policy = try #require(refusal(["demo", "--policy", "lru"]))
        #expect(policy.message.contains("'lru' is not a victim policy: segmented, fifo"), "\(policy.message)")
    }

    @Test func benchTakesRepeatedBaselinesAndRefusesBadCounts() throws {
        let bench = try parse(["bench", "--corpus", "c", "--vs", "zram", "--vs", "raw", "--threads", "4"], as: BenchCommand.self)
        #expect(bench.baselines == [.zram, .raw])
        #expect(bench.threads == 4 && bench.rounds == 3 && bench.compressor == .lz4 && !bench.json)
        #expect(refusal(["bench", "--corpus", "c", "--threads", "0"])?.message.contains("threads must be 1...64") == true)
        #expect(refusal(["bench", "--corpus", "c", "--rounds", "101"])?.message.contains("rounds must be 1...100") == true)
    }

    @Test func benchDedupGoesAlone() throws {
        #expect(try parse(["bench", "--corpus", "c", "--dedup"], as: BenchCommand.self).dedup)
        #expect(try !parse(["bench", "--corpus", "c"], as: BenchCommand.self).dedup)
        for extra in [["--json"], ["--vs", "raw"]] {
            let message = refusal(["bench", "--corpus", "c", "--dedup"] + extra)?.message
            #expect(message?.contains("--dedup goes without --vs and --json") == true, "\(message ?? "accepted")")
        }
    }

    @Test func frontswapDemoRefusesAnEmptyWorkingSet() throws {
        let demo = try parse(["frontswap-demo", "--pages", "64", "--backend", "ram"], as: FrontswapDemoCommand.self)
        #expect(demo.pages == 64 && demo.backend.backend == .ram && demo.seed == 2026)
        let (message, exitCode) = try #require(refusal(["frontswap-demo", "--pages", "0"]))
        #expect(message.contains("pages must be 1...\(1 << 22)"), "\(message)")
        #expect(exitCode == .validationFailure)
    }

    @Test func anUnknownSubcommandIsRefused() throws {
        let (message, exitCode) = try #require(refusal(["defragment"]))
        #expect(message.contains("defragment"), "\(message)")
        #expect(exitCode == .validationFailure)
    }
}
