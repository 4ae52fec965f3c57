import Glibc
import Synchronization
import Testing
import Tmem
import TmemSwapFile
import TmemTestKit
import TmemZcache
@testable import TmemCleancache

/// `CachedFile` against a model of the file's bytes: random reads, writes, truncations and reopenings
/// (which send the in-process cache's pages to cleancache), on a real file on the local disk.
struct CachedFileTests {
    @Test func randomReadsAndWritesMatchTheFile() throws {
        var rng = seededGenerator("CachedFile model", default: 0xF11E)
        let directory = try TemporaryDirectory(making: "tmem-cachedfile", in: "/var/tmp")
        let path = directory.file("data")
        var model = (0..<(40 * pageSize + 123)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        try writeWholeFile(path, model)
        let cache = Cleancache(backend: try Zcache(configuration: .init(limit: 16 << 20)))
        let pool = try cache.initFS()
        var file: CachedFile? = try CachedFile(path: path, cleancache: cache, pool: pool, cachePages: 6)
        print("CachedFile: O_DIRECT \(file!.directIO ? "on" : "off (the file system refused it)")")
        var out = [UInt8](repeating: 0, count: 5 * pageSize)
        for step in 0..<3000 {
            let f = try #require(file)
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<60:
                let offset = Int.random(in: 0..<(model.count + pageSize), using: &rng)
                let length = Int.random(in: 1...out.count, using: &rng)
                let n = try out.withUnsafeMutableBytes { try f.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<length]), at: offset) }
                let expected = offset < model.count ? Array(model[offset..<min(model.count, offset + length)]) : []
                #expect(Array(out[0..<n]) == expected ? true : false, "step \(step): read \(length) at \(offset) (got \(n) bytes, wanted \(expected.count))")
            case 60..<85:
                let offset = Int.random(in: 0..<(model.count + 100), using: &rng)
                let bytes = (0..<Int.random(in: 1...(2 * pageSize), using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                try bytes.withUnsafeBytes { try f.write($0, at: offset) }
                if offset > model.count { model += [UInt8](repeating: 0, count: offset - model.count) }
                if offset + bytes.count > model.count { model += [UInt8](repeating: 0, count: offset + bytes.count - model.count) }
                model.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
            case 85..<88:
                let size = Int.random(in: 0..<(model.count + pageSize), using: &rng)
                try f.truncate(to: size)
                model = size <= model.count ? Array(model[0..<size]) : model + [UInt8](repeating: 0, count: size - model.count)
            default:
                file = nil  // its pages go to cleancache
                file = try CachedFile(path: path, cleancache: cache, pool: pool, cachePages: 6)
            }
        }
        let stats = Dictionary(uniqueKeysWithValues: file!.namedStatistics.map { ($0.name, $0.value) })
        print("CachedFile model: \(stats), cleancache \(cache.namedStatistics)")
        #expect(cache.statistic("succ_gets") > 0, "reopened files should find pages in cleancache: \(stats)")
        let whole = try readWholeFile(path)
        #expect(whole == model ? true : false, "the file itself holds what was written (\(whole.count) bytes, model \(model.count))")
    }

    /// A file changed behind the cache's back, or replaced by another (perhaps under the same inode
    /// number), is never served from old pages.
    @Test func aFileChangedBehindTheCacheIsReadAfresh() throws {
        let directory = try TemporaryDirectory(making: "tmem-cachedfile", in: "/var/tmp")
        let path = directory.file("data")
        let cache = Cleancache(backend: RAMPool(capacity: 1 << 20))
        let pool = try cache.initFS()
        let old = [UInt8](repeating: 1, count: 4 * pageSize)
        try writeWholeFile(path, old)
        var page = [UInt8](repeating: 0, count: pageSize)
        do {
            let f = try CachedFile(path: path, cleancache: cache, pool: pool, cachePages: 2)
            for i in 0..<4 { _ = try page.withUnsafeMutableBytes { try f.read(into: $0, at: i * pageSize) } }
        }  // every page is now in cleancache
        #expect(cache.statistic("puts") >= 4)
        // Changed in place by another writer (its size too: mtime alone may not move within a tick).
        let fd = open(path, O_WRONLY)
        let tail = [UInt8](repeating: 2, count: 10)
        _ = tail.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(4 * pageSize)) }
        _ = [UInt8](repeating: 3, count: pageSize).withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        close(fd)
        let f = try CachedFile(path: path, cleancache: cache, pool: pool, cachePages: 2)
        _ = try page.withUnsafeMutableBytes { try f.read(into: $0, at: 0) }
        #expect(page.allSatisfy { $0 == 3 }, "an old page was served after the file changed")
        // Replaced by another file at the same path.
        unlink(path)
        try writeWholeFile(path, [UInt8](repeating: 4, count: 2 * pageSize + 1))
        let g = try CachedFile(path: path, cleancache: cache, pool: pool, cachePages: 2)
        _ = try page.withUnsafeMutableBytes { try g.read(into: $0, at: pageSize) }
        #expect(page.allSatisfy { $0 == 4 }, "a replaced file was served from the old one's pages")
    }

    /// Two files of one pool with the same inode number on different file systems get different keys.
    @Test func filesOfTwoDevicesNeverShareAKey() {
        let a = FileIdentity(device: 0x801, inode: 12, size: 4096, modified: 1, changed: 1)
        let b = FileIdentity(device: 0x802, inode: 12, size: 4096, modified: 1, changed: 1)
        #expect(a.fileKey != b.fileKey && a != b)
        #expect(FileIdentity(device: 0x801, inode: 13, size: 0, modified: 0, changed: 0).fileKey != a.fileKey)
    }
}
