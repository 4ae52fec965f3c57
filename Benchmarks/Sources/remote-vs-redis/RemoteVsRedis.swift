// remote-vs-redis: 4 KiB put/get against tmemd and against redis-server, from one load generator.
//
//   cd Benchmarks && swift run -c release remote-vs-redis ../../shared/corpus/dev-pages.bin.zst
//
// Both servers are started here (a free loopback port and a Unix socket in a scratch directory; Redis
// with persistence off), pinned to the same CPU, measured over TCP and then over the Unix socket, and
// stopped at the end, also on error or Ctrl-C. Without redis-server on PATH it says how to install it
// and measures tmemd alone. Tables first; the last line is one JSON object.
import ArgumentParser
import TmemReplay

#if canImport(Glibc)
    import Glibc
#endif

/// Which servers to measure.
enum ServerChoice: String, ExpressibleByArgument, CaseIterable {
    case both, tmemd, redis
}

@main
struct RemoteVsRedis: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remote-vs-redis",
        abstract: "tmemd vs redis-server: 4 KiB put/get rates, latencies and memory, over TCP and a Unix socket."
    )

    @Argument(help: "The page corpus (raw or .zst), e.g. ../../shared/corpus/dev-pages.bin.zst.")
    var corpus: String?

    @Option(help: "The tmemd binary (default: ../.build/release/tmemd of the Benchmarks folder).")
    var tmemd: String?

    @Option(name: .customLong("redis-server"), help: "The redis-server binary (default: redis-server on PATH).")
    var redisServer: String?

    @Option(help: "Which servers to measure.")
    var servers: ServerChoice = .both

    @Option(help: "Use only the first N corpus pages (default: all).")
    var pages: Int?

    @Option(help: "Seed of the random get order.")
    var seed: UInt64 = 1

    @Flag(name: .customLong("client-compression"), help: "Also run tmemd with pages LZ4-compressed by the client.")
    var clientCompression = false

    @Flag(name: .customLong("self-test"), help: "Check the frame and RESP encoders against the documents, then exit.")
    var selfTest = false

    func validate() throws {
        if !selfTest && corpus == nil { throw ValidationError("Missing expected argument '<corpus>'") }
        if let pages, pages < 1 { throw ValidationError("--pages must be at least 1") }
    }

    func run() throws {
        if selfTest {
            let failures = SelfTest.run()
            if failures > 0 { throw ExitCode.failure }
            return
        }
        EmergencyCleanup.install()
        if let plan = CPUPlacement.plan { try CPUPlacement.pinCurrentThread(to: plan.loadGenerator) }
        let pageCorpus: PageCorpus
        do { pageCorpus = try PageCorpus(path: corpus!) } catch { throw BenchError("\(error)") }
        let plan = RunPlan(pages: min(pages ?? pageCorpus.pageCount, pageCorpus.pageCount), seed: seed)

        let tmemdPath = servers == .redis ? nil : try resolveTmemd()
        var redisPath: String?
        if servers != .tmemd {
            redisPath = redisServer ?? findOnPath("redis-server")
            if redisPath == nil {
                print(
                    "redis-server is not on PATH: install it with `apt-get install redis-server` to compare; "
                        + "measuring tmemd alone (redis figures are null)")
            }
        }
        let redisVersion = redisPath.flatMap { versionOfRedis($0) }
        print("remote-vs-redis: \(plan.pages) pages of 4 KiB from \(corpus!), get order seed \(seed)")
        print(
            "servers: "
                + [tmemdPath.map { "tmemd \($0)" }, redisPath.map { "redis-server \($0) (\(redisVersion ?? "?"))" }]
                .compactMap { $0 }.joined(separator: ", "))
        print("placement: \(CPUPlacement.summary)")

        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let secret = try scratch.makeSecret()
        let launcher = ServerLauncher(scratch: scratch)
        let measurement = Measurement(corpus: pageCorpus, plan: plan)
        var report = Report(pages: plan.pages, plan: plan)
        for transport in Transport.allCases {
            var figures = TransportFigures()
            if let tmemdPath {
                print("tmemd over \(transport.label) ...")
                let server = try launcher.startTmemd(binary: tmemdPath, secretPath: secret.path)
                defer { server.process.stop() }
                figures.tmem = try measurement.run(TmemDriver(secret: secret.bytes), on: server, transport)
                if clientCompression {
                    print("tmemd with client compression over \(transport.label) ...")
                    figures.tmemCompressed = try measurement.run(
                        TmemDriver(secret: secret.bytes, clientCompression: true), on: server, transport)
                }
            }
            if let redisPath {
                print("redis-server over \(transport.label) ...")
                let server = try launcher.startRedis(binary: redisPath)
                defer { server.process.stop() }
                figures.redis = try measurement.run(RedisDriver(), on: server, transport)
            }
            report.figures[transport] = figures
        }
        for transport in Transport.allCases { print(report.table(transport), terminator: "") }
        let mismatches = report.totalMismatches
        if mismatches > 0 { print("PAGES DIFFER: \(mismatches) gets did not return the page that was put") }
        let placement = CPUPlacement.plan.map {
            "servers on cpu \($0.server), load generator on cpu \($0.loadGenerator)"
        }
        print(report.json(placement: placement ?? "not pinned", redisVersion: redisVersion))
        if mismatches > 0 { throw ExitCode.failure }
    }

    /// `--tmemd`, else ../.build/release/tmemd from the current directory (the Benchmarks folder), else
    /// the same path from the Benchmarks folder this executable was built in.
    private func resolveTmemd() throws -> String {
        if let tmemd {
            guard access(tmemd, X_OK) == 0 else { throw BenchError("--tmemd \(tmemd) is not an executable file") }
            return tmemd
        }
        var candidates = ["../.build/release/tmemd"]
        if let exe = try? executablePath(), let range = exe.range(of: "/.build/") {
            candidates.append(String(exe[..<range.lowerBound]) + "/../.build/release/tmemd")
        }
        for candidate in candidates where access(candidate, X_OK) == 0 { return candidate }
        throw BenchError(
            "no tmemd at \(candidates.joined(separator: " or ")): build it with `swift build -c release` in the "
                + "project's root, pass --tmemd PATH, or measure Redis alone with --servers redis")
    }

    private func executablePath() throws -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { throw BenchError("readlink /proc/self/exe: \(errnoText(errno))") }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// "v=7.0.15" from `redis-server --version`, or nil.
    private func versionOfRedis(_ path: String) -> String? {
        guard let pipe = popen("'\(path)' --version 2>/dev/null", "r") else { return nil }
        defer { pclose(pipe) }
        var line = [CChar](repeating: 0, count: 512)
        guard fgets(&line, Int32(line.count), pipe) != nil else { return nil }
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text.split(separator: " ").first { $0.hasPrefix("v=") }.map { String($0.dropFirst(2)) }
    }
}
