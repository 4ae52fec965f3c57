import ArgumentParser
import Tmem
import TmemFrontswap
import TmemReplay
import TmemSwapFile
import TmemZcache
#if canImport(Glibc)
import Glibc
#endif

/// `tmem frontswap-demo`: the frontswap API driven directly. Builds a working set several times larger
/// than transcendent memory, swaps it out through frontswap, reads it back in random order verifying
/// every byte, shrinks, and prints where every page went and what that saved.
struct FrontswapDemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "frontswap-demo",
        abstract: "Swap a generated working set through the frontswap API and show where every page went."
    )

    @Option(help: "Pages in the working set (4 KiB each).") var pages = 32_768
    @OptionGroup var backend: BackendOptions
    @Option(help: "Random seed for the working set.") var seed: UInt64 = 2026

    func validate() throws {
        guard pages > 0, pages <= 1 << 22 else { throw ValidationError("pages must be 1...\(1 << 22)") }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        let say = LineWriter(fd: 1, flushAt: 0)
        var config = backend.configuration(defaultKind: .zcache)
        if !backend.capacityWasSet { config.capacity = pages * pageSize / 4 }
        // The working set is held in plain memory beside the backend, and may all reach the swap file.
        try checkMachineHolds(memory: saturatingSum(pages * pageSize, config.capacity), what: "the working set and the backend",
            disk: pages * pageSize, in: environmentValue("TMPDIR") ?? "/tmp")
        say.writeLine("tmem frontswap-demo: \(pages) pages (\(formatByteCount(pages * pageSize))) through frontswap, "
            + "\(config.kind) backend of \(formatByteCount(config.capacity)), a swap file behind it")

        // A working set as real heaps hold: text records, numeric arrays, zero-filled stretches, some
        // incompressible bytes.
        var rng = SeededGenerator(seed: seed)
        let mix: [(PageKind, Int)] = [(.textLike, 40), (.numeric, 25), (.zero, 15), (.sameFilled, 5), (.random, 15)]
        let data = UnsafeMutableRawBufferPointer.allocate(byteCount: pages * pageSize, alignment: pageSize)
        defer { data.deallocate() }
        var kinds: [PageKind: Int] = [:]
        var clock = Stopwatch()
        for p in 0..<pages {
            var pick = Int(rng.next() % 100)
            let kind = mix.first { pick -= $0.1; return pick < 0 }!.0
            kinds[kind, default: 0] += 1
            kind.fill(UnsafeMutableRawBufferPointer(rebasing: data[p * pageSize..<(p + 1) * pageSize]), using: &rng)
        }
        say.writeLine("  built the working set in \(clock.lap()): "
            + mix.map { "\($0.0) \(kinds[$0.0] ?? 0)" }.joined(separator: ", "))

        let swap = try SwapFile.temporary(in: environmentValue("TMPDIR") ?? "/tmp", slots: pages)
        let tmem = try config.makeBackend()
        let reclaimer = Reclaimer(backend: tmem)
        try reclaimer.start()
        defer { reclaimer.stop() }
        let frontswap = Frontswap(backend: tmem, reclaimer: reclaimer)
        let area = SwapArea(0)
        try frontswap.initArea(area, pages: pages, device: swap)
        func page(_ p: Int) -> UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(rebasing: data[p * pageSize..<(p + 1) * pageSize])
        }

        // 1. Swap out everything.
        var reasons: [RefusalReason: Int] = [:]
        clock.reset()
        for p in 0..<pages {
            if case .disk(let why) = try frontswap.store(area, offset: PageOffset(p), page: page(p)) {
                reasons[why, default: 0] += 1
            }
        }
        let out = frontswap.counters
        say.writeLine("1. swap-out: \(pages) stores in \(clock.lap()) (\(clock.rate(pages)) pages/s): "
            + "\(out.succStores) to transcendent memory, \(out.failedStores) to the swap file"
            + (reasons.isEmpty ? "" : " (refused: " + reasons.map { "\($0.key) \($0.value)" }.sorted().joined(separator: ", ") + ")"))
        say.writeLine("   " + describe(tmem, frontswap.counters))

        // 2. Swap in, random order, verifying every byte.
        var order = Array(0..<pages)
        order.shuffle(using: &rng)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: pageSize)
        defer { buffer.deallocate() }
        var mismatches = 0
        clock.reset()
        for p in order {
            _ = try frontswap.load(area, offset: PageOffset(p), into: buffer)
            if memcmp(buffer.baseAddress!, page(p).baseAddress!, pageSize) != 0 { mismatches += 1 }
        }
        let back = frontswap.counters
        say.writeLine("2. swap-in (random order): \(pages) loads in \(clock.lap()) (\(clock.rate(pages)) pages/s): "
            + "\(back.loads) from transcendent memory, \(back.diskLoads) from the swap file; "
            + (mismatches == 0 ? "every byte verified" : "\(mismatches) PAGES DIFFER"))

        // 3. Shrink: repatriate three quarters of what transcendent memory holds.
        let target = back.currPages / 4
        clock.reset()
        let left = try frontswap.shrink(toPages: target)
        say.writeLine("3. shrink to \(target) pages: \(frontswap.counters.repatriatedPages - back.repatriatedPages) "
            + "repatriated to the swap file in \(clock.lap()); \(left) still held")

        // 4. Read back again and free every slot.
        mismatches = 0
        for p in 0..<pages {
            _ = try frontswap.load(area, offset: PageOffset(p), into: buffer)
            if memcmp(buffer.baseAddress!, page(p).baseAddress!, pageSize) != 0 { mismatches += 1 }
            try frontswap.invalidatePage(area, offset: PageOffset(p))
        }
        let end = frontswap.counters
        say.writeLine("4. verify and free: " + (mismatches == 0 ? "every byte verified again" : "\(mismatches) PAGES DIFFER")
            + "; \(end.invalidates) pages dropped, \(end.currPages) held")
        say.writeLine("frontswap: \(end)")
        // Against the swap file alone: every page written once and read once per pass; here the file saw only
        // the refused stores and the pages written back.
        let diskWrites = out.failedStores + out.repatriatedPages
        say.writeLine("saved against the swap file alone: \(pages - diskWrites) of \(pages) swap-file writes in the swap-out, "
            + "\(back.loads) of \(pages) swap-file reads in the swap-in")
        try finishOutput(say, of: "frontswap-demo")
        if mismatches > 0 { throw ExitCode.failure }
    }
}

/// One line on what the backend holds: pages, memory, and for Zcache its ratio and writeback.
func describe(_ backend: any Backend, _ counters: FrontswapCounters) -> String {
    if let zcache = backend as? Zcache {
        let s = zcache.statistics
        let ratio = (s.compressionRatio * 100).rounded() / 100
        return "zcache holds \(s.storedPages) pages (\(s.sameFilledPages) same-filled, \(s.hugePages) uncompressed) "
            + "in \(formatByteCount(s.memUsedTotal)) of pool + \(formatByteCount(s.metadataBytes)) of metadata: "
            + "\(ratio)x; \(s.writtenBackPages) cold pages written back to the swap file, \(s.poolLimitHit) stores refused at the limit"
    }
    if let ram = backend as? RAMPool {
        return "the RAM pool holds \(ram.statistics.storedPages) pages in \(formatByteCount(ram.usedBytes))"
    }
    return "transcendent memory holds \(counters.currPages) pages"
}

/// Wall-clock timing for progress lines.
struct Stopwatch {
    private var start = Self.now()
    private var elapsed = 0.0

    static func now() -> Double { Double(monotonicNanoseconds()) / 1e9 }

    mutating func reset() { start = Self.now() }

    /// Time since the last reset, formatted, and remembered for ``rate(_:)``.
    mutating func lap() -> String {
        elapsed = Self.now() - start
        return elapsed < 1 ? "\(Int(elapsed * 1000)) ms" : "\((elapsed * 100).rounded() / 100) s"
    }

    func rate(_ count: Int) -> Int { elapsed > 0 ? Int(Double(count) / elapsed) : 0 }

    /// The seconds of the last ``lap()``.
    var seconds: Double { elapsed }
}
