import ArgumentParser
import Logging
import Tmem
import TmemCompression
import TmemHost
import TmemReplay
import TmemServer
import TmemSwapFile
#if canImport(Glibc)
import Glibc
#endif

/// `tmem host-demo`: a host and three clients that want more than it has, on one machine, no arguments.
///
/// Starts a host in this process on a Unix socket in a temporary directory, and three client processes
/// (this executable's hidden `host-demo-client`: frontswap over the remote backend, with a swap file
/// each) of weights 1, 2 and 4 whose working sets together need about twice the host's capacity. Half way
/// it halves the capacity. Once a second it prints each client's memory against its weighted share,
/// and the host's refusals and shrink notices; shares halve, and the clients repatriate pages to their
/// swap files until they are within them. At the end every client reads back every page and checks
/// each byte: exit status 0 only if no byte of any persistent page differed or was lost.
///
/// Nothing is left behind: the clients are reaped (killed first when the demo is interrupted with
/// SIGINT, SIGTERM or SIGHUP, which end it with 128 plus the signal), the host's socket and the
/// directory are removed, the swap files never had names. A client also dies with the demo should the
/// demo be killed outright (PR_SET_PDEATHSIG).
struct HostDemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "host-demo",
        abstract: "A host and three weighted clients that want more than it has; halve its capacity; verify every byte."
    )

    @Option(help: "How long the clients run, in seconds (the capacity is halved half way).") var seconds = 16
    @Option(help: "Pages (4 KiB) in each client's working set.") var pages = 4096
    @Option(help: "The host's capacity at the start (default: 1.5 times what one client's pages take compressed).",
            transform: parseCapacity)
    var capacity: Int?
    @Option(help: "Random seed of the clients' pages and rewrites.") var seed: UInt64 = 2026

    /// The clients: names and weights.
    static let clients: [(name: String, weight: Int)] = [("c1", 1), ("c2", 2), ("c3", 4)]
    /// How long the clients may take to verify once told to, before they are killed and the demo fails.
    static let verificationTimeoutNanoseconds: UInt64 = 120_000_000_000

    func validate() throws {
        guard (2...3600).contains(seconds) else { throw ValidationError("--seconds must be 2...3600") }
        guard (16...(1 << 20)).contains(pages) else { throw ValidationError("--pages must be 16...\(1 << 20)") }
        if let capacity, capacity < 1 << 20 { throw ValidationError("--capacity must be at least 1 MiB") }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        // Before any thread exists (the host's event loop inherits the mask): signals become events.
        let signals = try ProcessCalls.blockIntoDescriptor([SIGINT, SIGTERM, SIGHUP])
        defer { close(signals) }
        guard let executable = ProcessCalls.executablePath() else {
            printError("tmem host-demo: cannot find this executable (/proc/self/exe) to start the clients")
            throw ExitCode.failure
        }
        let say = LineWriter(fd: 1, flushAt: 0)
        let directory = try TemporaryDirectory(making: "tmem-host-demo")
        // Kept until every other cleanup below has run: the clients' swap files and the socket live there.
        defer { withExtendedLifetime(directory) {} }

        let demand = try Self.chargedBytes(pages: pages, seeds: Self.clients.indices.map { seed &+ UInt64($0) })
        let start = capacity ?? demand * 3 / 2
        var policies: [String: ClientPolicy] = [:]
        for client in Self.clients { policies[client.name] = ClientPolicy(weight: client.weight) }
        let host = try Host(configuration: HostConfiguration(capacity: .bytes(start), clients: policies, shrinkDeadlineMilliseconds: 1000))
        var logger = Logger(label: "tmem host-demo") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        let socket = directory.file("tmemd.sock")
        let me = getuid()
        let server = HostServer(
            host: host,
            configuration: ServerConfiguration(
                unixPath: socket, access: AccessPolicy(secret: Self.randomSecret(), allowedUIDs: [me], adminUIDs: [me]),
                threads: 1, drainTimeoutNanoseconds: 2_000_000_000, tickNanoseconds: 250_000_000),
            logger: logger)
        try server.start()
        defer { server.stopNow() }

        say.writeLine("tmem host-demo: a host with \(formatByteCount(start)) at unix:\(socket); three clients of weights "
            + Self.clients.map { "\($0.weight)" }.joined(separator: ":") + ", each storing \(pages) pages "
            + "(\(formatByteCount(pages * pageSize)), about \(formatByteCount(demand)) compressed) through frontswap "
            + "with a swap file behind it; the capacity is halved after \(seconds / 2) s, every byte checked after \(seconds) s")
        let fillRate = max(1, pages * 10 / (seconds * 3))
        let children = try Self.clients.enumerated().map { i, client in
            try DemoChild(
                name: client.name, executable: executable,
                arguments: [
                    "host-demo-client", "--host", "unix:\(socket)", "--name", client.name, "--pages", "\(pages)",
                    "--seed", "\(seed &+ UInt64(i))", "--fill-rate", "\(fillRate)", "--rewrite-rate", "\(max(1, pages / 8))",
                    "--directory", directory.path,
                ])
        }
        defer {
            for child in children { child.kill(SIGKILL) }
            for child in children { child.reap() }
        }
        // A full bar is the largest share the run will see: the heaviest client's at the start.
        let scale = start * Self.clients.map(\.weight).max()! / Self.clients.reduce(0) { $0 + $1.weight }
        say.writeLine(HostDemoChart.legend(scaleBytes: scale))

        var run = DemoRun(host: host, children: children, say: say, scale: scale, signals: signals)
        try run.drive(seconds: seconds, capacity: start)
        if let signal = run.interrupted {
            for child in children { child.kill(SIGKILL) }
            printError("tmem host-demo: interrupted (signal \(signal)): the clients were stopped, the host shut down and its directory removed")
            throw ExitCode(128 + signal)
        }
        for child in children { child.reap() }
        let passed = run.summarize()
        try finishOutput(say, of: "host-demo")
        if !passed { throw ExitCode.failure }
    }

    /// What `pages` pages of each working set cost the host, averaged over the clients: LZ4 as the remote
    /// backend sends them, plus the host's metadata charge per page.
    static func chargedBytes(pages: Int, seeds: [UInt64]) throws -> Int {
        var compressor = try PageCompressor(algorithm: .lz4)
        let page = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: pageSize)
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: 16)
        defer {
            page.deallocate()
            block.deallocate()
        }
        var total = 0
        let metadata = HostConfiguration(capacity: .bytes(0)).metadataChargePerPage
        for seed in seeds {
            let contents = DemoPages(seed: seed)
            for p in 0..<pages {
                contents.fill(p, version: 1, into: page)
                let stored = compressor.compress(UnsafeRawBufferPointer(page), into: UnsafeMutableRawBufferPointer(rebasing: block[0..<(pageSize - 64)]))
                total += (stored ?? pageSize) + metadata
            }
        }
        return total / max(1, seeds.count)
    }

    /// A secret nobody needs: the demo's clients come over the Unix socket, checked by uid.
    static func randomSecret() -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }
}
