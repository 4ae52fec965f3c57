#if canImport(Glibc)
import Glibc
#endif
import Testing
import TmemCompression
import TmemTestKit

/// Whole `.zst` files: several frames, unknown content size, damage, and the real corpus.
struct ZstdFileTests {
    static let corpusPath = sharedCorpusPath() ?? "/nonexistent/dev-pages.bin.zst"
    static let corpusSHA256 = "f19e1ff5cea05cab0d08320bddf8552413326c58819abd805ad69ac5b9cd8a34"
    static let corpusPages = 16_384

    /// `printf 'tmem: a frame without a content size\n' | zstd -c`: zstd 1.5.4 reading a pipe writes
    /// no content size (frame header descriptor 0x04) and adds an XXH64 checksum.
    static let frameWithoutContentSize: [UInt8] = [
        0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x58, 0x29, 0x01, 0x00, 0x74, 0x6d, 0x65, 0x6d, 0x3a, 0x20, 0x61, 0x20, 0x66,
        0x72, 0x61, 0x6d, 0x65, 0x20, 0x77, 0x69, 0x74, 0x68, 0x6f, 0x75, 0x74, 0x20, 0x61, 0x20, 0x63, 0x6f, 0x6e,
        0x74, 0x65, 0x6e, 0x74, 0x20, 0x73, 0x69, 0x7a, 0x65, 0x0a, 0xe1, 0x87, 0x69, 0x01,
    ]

    @Test func isFrameChecksTheMagicNumber() {
        #expect(Self.frameWithoutContentSize.withUnsafeBytes { Zstd.isFrame($0) })
        #expect(![UInt8]([0x28, 0xb5, 0x2f]).withUnsafeBytes { Zstd.isFrame($0) })
        #expect(![UInt8]([0x28, 0xb5, 0x2f, 0xfe]).withUnsafeBytes { Zstd.isFrame($0) })
        #expect(![UInt8]().withUnsafeBytes { Zstd.isFrame($0) })
        #expect(Zstd.frameMagic == 0xFD2F_B528)
    }

    @Test func decompressAllJoinsEveryFrameOfAMultiFrameFile() throws {
        var compressor = try PageCompressor(algorithm: .zstd)
        let pages = (0..<12).map { PageKind.allCases[$0 % 4].page(variant: UInt64($0)) }
        var file: [UInt8] = []
        for page in pages {
            file += try #require(compressed(page, with: &compressor, capacity: 2 * pageSize))
        }
        file += Self.frameWithoutContentSize
        let content = try file.withUnsafeBytes { try Zstd.decompressAll($0) }
        #expect(content == pages.flatMap { $0 } + Array("tmem: a frame without a content size\n".utf8))
    }

    @Test func decompressAllReadsAFrameWithoutContentSize() throws {
        let content = try Self.frameWithoutContentSize.withUnsafeBytes { try Zstd.decompressAll($0) }
        #expect(String(decoding: content, as: UTF8.self) == "tmem: a frame without a content size\n")
    }

    @Test func decompressAllRejectsEveryTruncation() {
        let file = Self.frameWithoutContentSize
        for length in 0..<file.count {
            #expect(throws: CompressionError.self, "first \(length) of \(file.count) bytes") {
                _ = try Array(file.prefix(length)).withUnsafeBytes { try Zstd.decompressAll($0) }
            }
        }
    }

    @Test func decompressAllRejectsDamageTheChecksumCatches() {
        var file = Self.frameWithoutContentSize
        file[20] ^= 0x01  // a literal byte: only the frame's XXH64 checksum notices
        let error = #expect(throws: CompressionError.self) {
            _ = try file.withUnsafeBytes { try Zstd.decompressAll($0) }
        }
        #expect(error?.code == .corruptData)
    }

    @Test func decompressAllRejectsInputThatIsNotZstandard() {
        let text = Array("plain text, not a zstd file".utf8)
        let error = #expect(throws: CompressionError.self) {
            _ = try text.withUnsafeBytes { try Zstd.decompressAll($0) }
        }
        #expect(error?.code == .corruptData)
    }

    @Test(.enabled(if: fileExists(corpusPath), "the dev page corpus is not on this machine"))
    func corpusDecompressesToItsPublishedDigest() throws {
        let file = try #require(readWholeFile(Self.corpusPath))
        #expect(file.withUnsafeBytes { Zstd.isFrame($0) })
        let corpus = try file.withUnsafeBytes { try Zstd.decompressAll($0) }
        #expect(corpus.count == Self.corpusPages * pageSize)
        // FNV-1a of the first page, from `zstd -dc dev-pages.bin.zst | head -c 4096` when written.
        #expect(fnv1a(corpus.prefix(pageSize)) == 0xa991_6e27_2520_e521)
        #expect(SHA256.hex(corpus) == Self.corpusSHA256)
    }
}

/// 64-bit FNV-1a, a quick fingerprint of a few bytes.
func fnv1a(_ bytes: some Sequence<UInt8>) -> UInt64 {
    bytes.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
}

/// Whether a path exists (and can be stat'ed).
func fileExists(_ path: String) -> Bool {
    access(path, F_OK) == 0
}

/// Reads a whole regular file into memory; `nil` on any error.
func readWholeFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { return nil }
    var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, $0.count - done) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { return nil }
        done += n
    }
    return bytes
}
