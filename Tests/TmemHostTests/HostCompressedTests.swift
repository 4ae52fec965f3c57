import Testing
import Tmem
import TmemCompression
import TmemTestKit
@testable import TmemHost

/// Precompressed pages: a client's LZ4 block is checked, stored as it came, and returned as stored to a
/// client that accepts blocks.
struct HostCompressedTests {
    @Test(arguments: [PageKind.textLike, .numeric, .zero, .sameFilled])
    func aBlockRoundTrips(kind: PageKind) throws {
        var rng = seededGenerator("HostCompressedTests.aBlockRoundTrips", default: 101)
        let host = try makeHost(capacity: 8 << 20)
        let s = host.openSession(name: "alice", secretAuthenticated: false, isAdmin: false)
        let pool = try host.pool(s, ephemeral: false)
        let bytes = page(kind, tag: 5, &rng)
        let block = try #require(try lz4Block(bytes))
        #expect(host.put(s, pool, 1, 2, block, compressed: true) == .ok)
        var out = [UInt8](repeating: 0, count: pageSize)
        let result = out.withUnsafeMutableBytes { host.get(s, pool: pool, object: 1, index: 2, into: $0, acceptCompressed: true) }
        if kind == .zero || kind == .sameFilled {
            #expect(result == .page && out == bytes, "same-filled pages come back whole")
        } else {
            #expect(result == .compressed(length: block.count))
            #expect(Array(out[0..<block.count]) == block, "the block as it came, not compressed again")
        }
        #expect(try host.page(s, pool, 1, 2) == bytes, "a client that takes no blocks gets the page")
        #expect(host.statistics().clients[0].compressedBytes == (kind == .textLike || kind == .numeric ? block.count + 4 : 0))
    }

    @Test func pagesPutWholeComeBackAsBlocksOrPages() throws {
        var rng = seededGenerator("pagesPutWholeComeBackAsBlocksOrPages", default: 102)
        let host = try makeHost(capacity: 8 << 20)
        let s = host.openSession(name: "alice", secretAuthenticated: false, isAdmin: false)
        let pool = try host.pool(s, ephemeral: true)
        let text = page(.textLike, tag: 1, &rng), noise = page(.random, tag: 2, &rng)
        #expect(host.put(s, pool, 0, 0, text) == .ok && host.put(s, pool, 0, 1, noise) == .ok)
        var out = [UInt8](repeating: 0, count: pageSize)
        let r0 = out.withUnsafeMutableBytes { host.get(s, pool: pool, object: 0, index: 0, into: $0, acceptCompressed: true) }
        guard case .compressed(let length) = r0 else { Issue.record("a compressible page: \(r0)"); return }
        #expect(try lz4Decoded(Array(out[0..<length])) == text)
        let r1 = out.withUnsafeMutableBytes { host.get(s, pool: pool, object: 0, index: 1, into: $0, acceptCompressed: true) }
        #expect(r1 == .page && out == noise, "an incompressible page is kept and returned whole")
    }

    @Test func badPayloadsAreBadRequestsAndDropTheOldPage() throws {
        var rng = seededGenerator("badPayloadsAreBadRequestsAndDropTheOldPage", default: 103)
        let host = try makeHost(capacity: 8 << 20)
        let s = host.openSession(name: "alice", secretAuthenticated: false, isAdmin: false)
        let pool = try host.pool(s, ephemeral: false)
        let bytes = page(.textLike, tag: 3, &rng)
        let block = try #require(try lz4Block(bytes))
        let half = try #require(try lz4Block(Array(bytes[0..<2048])))
        let bad: [(payload: [UInt8], compressed: Bool)] = [
            (Array(block.dropLast(3)), true), (half, true), ([UInt8](repeating: 0xF0, count: 64), true),
            ([UInt8](repeating: 0, count: pageSize + 1), true), ([], true), (Array(bytes.prefix(4095)), false),
        ]
        for (payload, compressed) in bad {
            #expect(host.put(s, pool, 0, 0, bytes) == .ok)
            #expect(host.put(s, pool, 0, 0, payload, compressed: compressed) == .badRequest, "\(payload.count) bytes")
            #expect(try host.page(s, pool, 0, 0) == nil, "a refused put leaves no old page behind")
        }
        #expect(host.statistics().clients[0].refusals[.badRequest] == bad.count)
        #expect(host.statistics().pages == 0)
    }
}

private func lz4Decoded(_ block: [UInt8]) throws -> [UInt8] {
    var decoder = try PageCompressor(algorithm: .lz4)
    var out = [UInt8](repeating: 0, count: pageSize)
    try block.withUnsafeBytes { src in try out.withUnsafeMutableBytes { try decoder.decompress(src, into: $0) } }
    return out
}

/// The host's own LZ4 acceleration: faster settings store the same pages in more bytes, every page
/// still round-trips, and a setting outside the library's range is refused at start.
struct HostAccelerationTests {
    @Test func higherAccelerationKeepsPagesAndStoresMore() throws {
        var rng = seededGenerator("HostAccelerationTests", default: 103)
        let pages = (0..<64).map { page(.textLike, tag: UInt64($0), &rng) }
        var stored: [Int] = []
        for acceleration in [1, 64] {
            let host = try Host(configuration: HostConfiguration(capacity: .bytes(8 << 20), lz4Acceleration: acceleration))
            let s = host.openSession(name: "alice", secretAuthenticated: false, isAdmin: false)
            let pool = try host.pool(s, ephemeral: false)
            for (i, bytes) in pages.enumerated() { #expect(host.put(s, pool, 0, UInt32(i), bytes) == .ok) }
            for (i, bytes) in pages.enumerated() { #expect(try host.page(s, pool, 0, UInt32(i)) == bytes) }
            stored.append(host.statistics().storedBytes)
        }
        #expect(stored[1] > stored[0], "acceleration 64 should trade ratio for speed: \(stored)")
        #expect(throws: HostError.self) { try Host(configuration: HostConfiguration(capacity: .bytes(8 << 20), lz4Acceleration: 0)) }
    }
}
