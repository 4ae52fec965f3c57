import ArgumentParser
import BenchProcess
import Tmem
import TmemCleancache
import TmemZcache
#if canImport(Glibc)
import Glibc
#endif

/// `dedup`: two copies of one database file cached at once (a copy made for the run, another inode),
/// through `CachedFile` into one Zcache cleancache, with ephemeral deduplication off and then on: the
/// pool's memory, `deduplicated_pages` and the memory saved. Every page of both files is read once
/// (the in-process cache holds 8 pages, so all of them go on to cleancache), then read again and
/// compared with the file.
struct Dedup: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dedup", abstract: "Cache two copies of a database with deduplication off and on.")

    @Argument(help: "The database to copy.") var path: String
    @Option(help: "Pages of each copy to cache.") var pages: Int = 20_000

    func run() throws {
        let copy = path + ".dedup-copy"
        try copyFile(path, to: copy, pages: pages)
        defer { unlink(copy) }
        for deduplicate in [false, true] {
            let zcache = try Zcache(configuration: .init(limit: 4 * pages * pageSize, deduplicateEphemeral: deduplicate))
            let cleancache = Cleancache(backend: zcache)
            let pool = try cleancache.initFS()
            var mismatches = 0
            let start = monotonicNanoseconds()
            for _ in 0..<2 {
                // The second pass reads back from cleancache.
                let files = try [path, copy].map { try CachedFile(path: $0, cleancache: cleancache, pool: pool, cachePages: 8, writable: false) }
                for index in 0..<pages {
                    var first = [UInt8](repeating: 0, count: pageSize), second = first
                    _ = try first.withUnsafeMutableBytes { try files[0].read(into: $0, at: index * pageSize) }
                    _ = try second.withUnsafeMutableBytes { try files[1].read(into: $0, at: index * pageSize) }
                    if first != second { mismatches += 1 }
                }
            }
            let seconds = Double(monotonicNanoseconds() - start) / 1e9
            let s = zcache.statistics
            print("deduplication \(deduplicate ? "on" : "off"): \(s.storedPages) pages of two copies in \(s.memUsedTotal >> 10) KiB "
                + "(metadata \(s.metadataBytes >> 10) KiB), deduplicated_pages \(s.deduplicatedPages), saved \(s.dedupSavedBytes >> 10) KiB, "
                + "succ_gets \(cleancache.namedStatistics.first { $0.name == "succ_gets" }?.value ?? 0), \(mismatches) mismatches, \(rounded(seconds)) s")
            print("{\"deduplicate\": \(deduplicate), \"stored_pages\": \(s.storedPages), \"mem_used_total\": \(s.memUsedTotal), "
                + "\"metadata_bytes\": \(s.metadataBytes), \"deduplicated_pages\": \(s.deduplicatedPages), \"dedup_saved_bytes\": \(s.dedupSavedBytes), "
                + "\"mismatches\": \(mismatches)}")
            if mismatches > 0 { throw ExitCode(1) }
        }
    }
}

/// Copies the first `pages` pages of `source` to a new file `destination`.
func copyFile(_ source: String, to destination: String, pages: Int) throws {
    let input = open(source, O_RDONLY | O_CLOEXEC)
    guard input >= 0 else { throw BenchError("cannot open \(source): \(String(cString: strerror(errno)))") }
    defer { close(input) }
    let output = open(destination, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard output >= 0 else { throw BenchError("cannot create \(destination): \(String(cString: strerror(errno)))") }
    defer { close(output) }
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    var left = pages * pageSize
    while left > 0 {
        let n = read(input, &buffer, min(left, buffer.count))
        guard n > 0 else { break }
        guard write(output, buffer, n) == n else { throw BenchError("cannot write \(destination): \(String(cString: strerror(errno)))") }
        left -= n
    }
}
