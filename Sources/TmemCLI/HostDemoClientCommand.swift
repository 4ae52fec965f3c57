import ArgumentParser
import Tmem
import TmemFrontswap
import TmemRemote
import TmemReplay
import TmemSwapFile
import TmemWire
#if canImport(Glibc)
import Glibc
#endif

/// `tmem host-demo-client` (hidden): one client process of `tmem host-demo`. Frontswap over a remote
/// backend (the demo's host), with a real swap file behind it and a ``Reclaimer`` that honours the
/// host's shrink notices by repatriating pages to that file.
///
/// It stores every page of a ``DemoPages`` working set at `--fill-rate`, then rewrites and reads back
/// random pages at `--rewrite-rate` until its standard input ends (the parent closes it, or dies), then
/// loads every page and checks each byte against the regenerated content. Its standard output is the
/// parent's, one `key=value` line at a time:
///
/// - `filled pages=N tmem=T disk=D` once every page was stored once;
/// - `status held=H repatriated=R disk=D notices=K` about four times a second;
/// - `verified pages=N mismatched=M lost=L repatriated=R notices=K disk=D refused=F` at the end.
///
/// Exit status 0 when every page came back byte for byte, 1 when any differed or was lost, 2 when the
/// client could not run (the host unreachable, the swap file not made).
struct HostDemoClientCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "host-demo-client",
        abstract: "One client of tmem host-demo (started by it).",
        shouldDisplay: false
    )

    @Option(help: "The host: unix:PATH or HOST:PORT.") var host: String
    @Option(help: "The client's name at the host.") var name: String
    @Option(help: "Pages in the working set.") var pages: Int
    @Option(help: "Seed of the working set and of the rewrites.") var seed: UInt64 = 1
    @Option(help: "Pages stored per second while filling (0: as fast as possible).") var fillRate = 0
    @Option(help: "Pages rewritten or read back per second after the fill (0: none).") var rewriteRate = 0
    @Option(help: "The directory of the swap file (default $TMPDIR or /tmp).") var directory: String?

    func validate() throws {
        guard pages > 0, pages <= 1 << 22 else { throw ValidationError("pages must be 1...\(1 << 22)") }
        guard fillRate >= 0, rewriteRate >= 0 else { throw ValidationError("rates are at least 0") }
    }

    func run() throws {
        // A demo's client never outlives the demo, whatever ends it.
        ProcessCalls.dieWithParent(SIGKILL)
        signal(SIGPIPE, SIG_IGN)
        do {
            let client = try DemoClient(self)
            defer { client.close() }
            let exitCode = try client.run()
            if exitCode != 0 { throw ExitCode(exitCode) }
        } catch let error as ExitCode {
            throw error
        } catch {
            printError("tmem host-demo-client \(name): \(error)")
            throw ExitCode(2)
        }
    }
}

/// The client's working parts: the remote backend, its reclaimer, frontswap over a swap file, and the
/// versions of its pages.
private final class DemoClient {
    let options: HostDemoClientCommand
    let remote: RemoteBackend
    let reclaimer: Reclaimer
    let frontswap: Frontswap
    let area = SwapArea(0)
    let contents: DemoPages
    var versions: [UInt32]
    var rng: SeededGenerator
    var mismatched = 0
    let say = LineWriter(fd: 1, flushAt: 0)
    let page = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: pageSize)
    let expected = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: pageSize)
    /// Standard input ended: the parent wants the verification now.
    var finishing = false

    /// How often a status line goes out.
    static let statusIntervalNanoseconds: UInt64 = 250_000_000

    init(_ options: HostDemoClientCommand) throws {
        self.options = options
        let address = try HostAddress.parse(options.host)
        // No secret: on the demo's Unix socket the host checks the peer's uid.
        remote = try RemoteBackend(configuration: RemoteConfiguration(address: address, name: options.name))
        reclaimer = Reclaimer(backend: remote)
        frontswap = Frontswap(backend: remote, reclaimer: reclaimer)
        contents = DemoPages(seed: options.seed)
        versions = [UInt32](repeating: 0, count: options.pages)
        rng = SeededGenerator(seed: options.seed &+ 0x5EED)
        let swap = try SwapFile.temporary(in: options.directory, slots: options.pages)
        try frontswap.initArea(area, pages: options.pages, device: swap)
        try reclaimer.start()
    }

    /// Stops the reclaimer and frees the buffers. The session closes when the remote backend goes, after
    /// frontswap (which destroys its pool on the way out): `RemoteBackend.close()` before that would make
    /// the pool's destruction reconnect through an event loop already shut down.
    func close() {
        reclaimer.stop()
        page.deallocate()
        expected.deallocate()
    }

    /// Fills, rewrites until told to finish, verifies.
    ///
    /// - Returns: The exit status: 0 when every page came back intact.
    func run() throws -> Int32 {
        try paced(rate: options.fillRate, operations: options.pages) { p in try store(p) }
        if !finishing {
            let c = frontswap.counters
            say.writeLine("filled pages=\(options.pages) tmem=\(c.succStores) disk=\(c.failedStores)")
            if options.rewriteRate == 0 {
                idle()
            } else {
                try paced(rate: options.rewriteRate, operations: nil) { _ in
                    // Seven in ten rewrite a page, the rest read one back and check it.
                    let p = Int.random(in: 0..<options.pages, using: &rng)
                    if rng.next() % 10 < 7 { try store(p) } else { try check(p) }
                }
            }
        }
        return try verify()
    }

    /// Stores a new version of page `p`.
    func store(_ p: Int) throws {
        versions[p] &+= 1
        contents.fill(p, version: versions[p], into: page)
        _ = try frontswap.store(area, offset: PageOffset(p), page: UnsafeRawBufferPointer(page))
    }

    /// Loads page `p` and counts a mismatch (a lost page is counted by frontswap, and shows at the end).
    func check(_ p: Int) throws {
        guard versions[p] > 0 else { return }
        if case .intact = try load(p) {} else { mismatched += 1 }
    }

    enum Outcome { case intact, differs, lost }

    /// Loads page `p` and compares it with its latest version; a retryable failure is tried again a few
    /// times (the host is alive throughout the demo, so it should never happen).
    func load(_ p: Int) throws -> Outcome {
        var attempts = 0
        while true {
            let result: LoadResult
            do throws(FrontswapError) {
                result = try frontswap.load(area, offset: PageOffset(p), into: page)
            } catch {
                if error.isPageLost { return .lost }
                guard error.isRetryable, attempts < 5 else { throw error }
                attempts += 1
                continue
            }
            guard result != .notStored else { return .lost }
            contents.fill(p, version: versions[p], into: expected)
            return memcmp(page.baseAddress!, expected.baseAddress!, pageSize) == 0 ? .intact : .differs
        }
    }

    /// Runs `body` for operations 0, 1, 2... (`operations` of them, or until standard input ends when
    /// nil) at `rate` per second (0: as fast as it goes), writing a status line every quarter second and
    /// stopping early when standard input ends.
    func paced(rate: Int, operations: Int?, _ body: (Int) throws -> Void) throws {
        precondition(rate > 0 || operations != nil, "an unpaced run has an end")
        let start = monotonicNanoseconds()
        var nextStatus = start + Self.statusIntervalNanoseconds
        var done = 0
        func more() -> Bool { operations.map { done < $0 } ?? true }
        while !finishing && more() {
            // Due by now: everything when unpaced, else `rate` per second since the start (the first at once).
            let now = monotonicNanoseconds()
            let due = rate == 0 ? Int.max : Int((now - start) / 1000 * UInt64(rate) / 1_000_000) + 1
            var batch = 0
            while done < due && batch < 64 && more() {
                try body(done)
                done += 1
                batch += 1
            }
            let after = monotonicNanoseconds()
            if after >= nextStatus {
                status()
                nextStatus = after + Self.statusIntervalNanoseconds
            }
            // Wait for the next status line or the next operation due, whichever is first (not at all
            // while behind); standard input is looked at either way.
            var wait = nextStatus - after
            if done < due {
                wait = 0
            } else {
                let nextDue = start + UInt64(done) * 1_000_000_000 / UInt64(rate)
                wait = min(wait, nextDue > after ? nextDue - after : 0)
            }
            watchInput(timeoutMilliseconds: Int32((wait + 999_999) / 1_000_000))
        }
    }

    /// Writes status lines until standard input ends.
    func idle() {
        while !finishing {
            status()
            watchInput(timeoutMilliseconds: Int32(Self.statusIntervalNanoseconds / 1_000_000))
        }
    }

    /// Waits up to `timeoutMilliseconds` for standard input; its end sets ``finishing``.
    func watchInput(timeoutMilliseconds: Int32) {
        var ready = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
        guard poll(&ready, 1, timeoutMilliseconds) == 1 else { return }
        var sink = [UInt8](repeating: 0, count: 256)
        let n = sink.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
        if n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN) { finishing = true }
    }

    func status() {
        let c = frontswap.counters
        say.writeLine("status held=\(c.currPages) repatriated=\(c.repatriatedPages) disk=\(c.failedStores) "
            + "notices=\(remote.statistic("shrink_notices"))")
    }

    /// Loads every page and checks every byte.
    func verify() throws -> Int32 {
        var intact = 0, lost = 0
        for p in 0..<options.pages where versions[p] > 0 {
            switch try load(p) {
            case .intact: intact += 1
            case .differs: mismatched += 1
            case .lost: lost += 1
            }
        }
        let c = frontswap.counters
        say.writeLine("verified pages=\(intact) mismatched=\(mismatched) lost=\(lost) repatriated=\(c.repatriatedPages) "
            + "notices=\(remote.statistic("shrink_notices")) disk=\(c.failedStores) refused=\(remote.statistic("refused_by_host"))")
        say.flush()
        return mismatched == 0 && lost == 0 ? 0 : 1
    }
}
