import BenchProcess
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Tmem
import TmemRemote
import TmemReplay

/// What one synchronous remote-backend operation costs, from one thread: the part of a fault through the
/// host that is not userfaultfd's. Puts every corpus page (up to `--pages`) one at a time, then gets them
/// in a random order, verifying each, through a tmemd it starts on a Unix socket.
struct RoundTrip: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "round-trip", abstract: "Microseconds per synchronous put and get through a tmemd host.")

    @Argument(help: "The page corpus (raw or .zst).") var corpus: String
    @Option(help: "Pages to put and get.") var pages = 50_000
    @Option(help: "The tmemd binary.") var tmemd = "../.build/release/tmemd"
    @Flag(name: .customLong("raw-pages"), help: "Send pages uncompressed.") var rawPages = false

    func run() throws {
        let corpus = try PageCorpus(path: corpus)
        let daemon = try Tmemd(binary: tmemd, capacityBytes: pages * 4096 + (64 << 20))
        defer { daemon.stop() }
        let backend = try daemon.connect(compressPages: !rawPages)
        defer { backend.close() }
        let pool = try backend.createPool(.persistent)
        let start = now()
        for p in 0..<pages {
            let result = backend.put(Key(pool: pool, object: ObjectID(rawValue: 0), index: PageIndex(rawValue: UInt32(p))), page: corpus.page(p % corpus.pageCount))
            guard case .stored = result else { throw BenchError("put \(p): \(result)") }
        }
        let putSeconds = now() - start
        var rng = SeededGenerator(seed: 1)
        let order = Array(0..<pages).shuffled(using: &rng)
        let page = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 4096)
        defer { page.deallocate() }
        var mismatches = 0
        let getStart = now()
        for p in order {
            guard try backend.get(Key(pool: pool, object: ObjectID(rawValue: 0), index: PageIndex(rawValue: UInt32(p))), into: page) else {
                throw BenchError("get \(p) missed")
            }
            if memcmp(page.baseAddress!, corpus.page(p % corpus.pageCount).baseAddress!, 4096) != 0 { mismatches += 1 }
        }
        let getSeconds = now() - getStart
        print("round-trip: \(pages) pages, put \(fmt(putSeconds * 1e6 / Double(pages))) us, get \(fmt(getSeconds * 1e6 / Double(pages))) us, mismatches \(mismatches)")
        if mismatches > 0 { throw ExitCode.failure }
    }
}
