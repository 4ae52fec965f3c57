#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Testing
import Tmem
import TmemReplay
import TmemSwapFile

/// A Zstandard frame of `blocks` RLE blocks of 128 KiB of `byte` each: 4 bytes of input per 128 KiB of
/// content (a decompression bomb when `blocks` is large), with or without its content size in the header.
func zstdRLEFrame(blocks: Int, byte: UInt8 = 0, declaringSize: Bool) -> [UInt8] {
    var frame: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]
    // Frame header descriptor: 8-byte content size (0xC0) or none (0x00); then a 128 KiB window (2^17).
    frame += [declaringSize ? 0xC0 : 0x00, 0x38]
    if declaringSize { frame += withUnsafeBytes(of: (UInt64(blocks) << 17).littleEndian, Array.init) }
    for i in 0..<blocks {
        let header = UInt32(i == blocks - 1 ? 1 : 0) | 1 << 1 | UInt32(1 << 17) << 3
        frame += [UInt8(header & 0xff), UInt8(header >> 8 & 0xff), UInt8(header >> 16), byte]
    }
    return frame
}

/// The corpus is read whole and bounded: no mapping to die on, no bomb to expand.
struct PageCorpusBoundsTests {
    @Test func aSmallRLEFrameIsAValidCorpus() throws {
        let dir = TemporaryDirectory()
        try writeFile(dir.file("c.zst"), zstdRLEFrame(blocks: 2, byte: 7, declaringSize: false))
        let corpus = try PageCorpus(path: dir.file("c.zst"))
        #expect(corpus.pageCount == 64)
        #expect(corpus.page(63).allSatisfy { $0 == 7 })
    }

    @Test(arguments: [true, false])
    func aZstdBombIsRefusedAtTheLimit(declaringSize: Bool) throws {
        let dir = TemporaryDirectory()
        let bomb = zstdRLEFrame(blocks: 8192, declaringSize: declaringSize)  // 32 KiB that expand to 1 GiB
        #expect(bomb.count < 40_000)
        try writeFile(dir.file("bomb.zst"), bomb)
        let error = #expect(throws: ReplayError.self) { try PageCorpus(path: dir.file("bomb.zst"), sizeLimit: 1 << 20) }
        #expect(error?.isLimit == true)
        let expected =
            declaringSize
            ? "corpus \(dir.file("bomb.zst")) declares 1.0 GiB of pages (its Zstandard frame header), more than the limit of 1.0 MiB"
            : "corpus \(dir.file("bomb.zst")) expands to more than the limit of 1.0 MiB"
        #expect(error?.message == expected)
    }

    @Test func aRawCorpusOverTheLimitIsRefusedBeforeItIsRead() throws {
        let dir = TemporaryDirectory()
        try writeFile(dir.file("c"), [UInt8](repeating: 1, count: 3 * pageSize))
        let error = #expect(throws: ReplayError.self) { try PageCorpus(path: dir.file("c"), sizeLimit: 2 * pageSize) }
        #expect(error?.isLimit == true)
        #expect(error?.message == "corpus \(dir.file("c")) is 12.0 KiB, more than the limit of 8.0 KiB")
    }

    @Test func aDirectoryIsSaidToBeOne() throws {
        let dir = TemporaryDirectory()
        let error = #expect(throws: ReplayError.self) { try PageCorpus(path: dir.path) }
        #expect(error?.message == "corpus \(dir.path) is a directory, not a file of pages")
    }

    @Test func aCorpusTruncatedAfterOpeningKeepsItsPages() throws {
        let dir = TemporaryDirectory()
        try writeFile(dir.file("c"), [UInt8](repeating: 5, count: 4 * pageSize))
        let corpus = try PageCorpus(path: dir.file("c"))
        #expect(truncate(dir.file("c"), 0) == 0)
        #expect(corpus.page(3).allSatisfy { $0 == 5 }, "read into memory: no SIGBUS, no change")
    }
}

/// Trace lines as bytes: bounded, escaped, comments by byte.
struct TraceLineTests {
    private func message(_ line: [UInt8]) -> String? {
        do {
            _ = try TraceOperation.parse(line)
            return nil
        } catch {
            return error.message
        }
    }

    @Test func aNumberTooLargeIsSaidToBeSo() {
        #expect(message(Array("load 0 18446744073709551616".utf8)) == "OFFSET 18446744073709551616 is too large (at most 9223372036854775807)")
        let huge = "load 0 " + String(repeating: "9", count: 200)
        #expect(message(Array(huge.utf8)) == "OFFSET a 200-digit number is too large (at most 9223372036854775807)")
    }

    @Test func controlBytesAreEscapedAndQuotedTextIsBounded() {
        #expect(message([0x62, 0x07, 0x1b, 0x5b, 0x7f]) == "unknown operation 'b\\x07\\x1b[\\x7f'")
        #expect(message(Array("load 0 1\u{7}".utf8)) == "OFFSET must be a non-negative integer, not '1\\x07'")
        #expect(message([0x78, 0xff, 0xc3, 0xa9]) == "unknown operation 'x\\xffé'")
        let long = message(Array(("store 0 1 " + String(repeating: "x", count: 10_000)).utf8)) ?? ""
        #expect(long == "K must be a non-negative integer, not '\(String(repeating: "x", count: 40))...'")
    }

    @Test func aHashFollowedByACombiningMarkIsAComment() throws {
        #expect(try TraceOperation.parse(Array("#\u{301} not an operation".utf8)) == nil)
        #expect(try TraceOperation.parse(Array("  #x".utf8)) == nil)
    }

    @Test func aCorpusOfOnePageSaysPage() throws {
        let dir = TemporaryDirectory()
        try writeFile(dir.file("c"), [UInt8](repeating: 1, count: pageSize))
        let replayer = Replayer(
            backend: try BackendConfiguration(kind: .ram, capacity: 1 << 20).makeBackend(),
            corpus: try PageCorpus(path: dir.file("c")), swapFiles: .temporary(in: dir.path))
        #expect(try replayer.run(.initArea(area: 0, pages: 4)) == "ok")
        #expect(try replayer.run(.store(area: 0, offset: 0, corpusPage: 1)) == "error line 0: corpus page 1 is out of range (the corpus has 1 page)")
    }
}

/// The line reader's bound and its hook before each read.
struct LineReaderTests {
    /// Feeds `input` through a pipe (written in full first) and collects what the reader hands over.
    private func lines(_ input: [UInt8], maxLineLength: Int, chunkSize: Int) throws -> [String] {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer { close(fds[0]) }
        try #require(input.count < 60_000, "fits the pipe")
        _ = input.withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }
        close(fds[1])
        var out: [String] = []
        try LineReader(fd: fds[0], chunkSize: chunkSize, maxLineLength: maxLineLength).forEachLine { (line: LineReader.Line) in
            switch line {
            case .complete(let bytes): out.append(String(decoding: bytes, as: UTF8.self))
            case .tooLong(let prefix): out.append("too long: \(prefix.count)")
            }
        }
        return out
    }

    @Test(arguments: [16, 64, 1 << 16])
    func aLongLineIsReportedOnceAndSkipped(chunkSize: Int) throws {
        let input = Array(("a\n" + String(repeating: "x", count: 5000) + "\nb\n" + String(repeating: "y", count: 9) + "\nlast").utf8)
        #expect(try lines(input, maxLineLength: 8, chunkSize: chunkSize) == ["a", "too long: 8", "b", "too long: 8", "last"])
    }

    @Test func aLineOfExactlyTheLimitIsWhole() throws {
        #expect(try lines(Array("12345678\n".utf8), maxLineLength: 8, chunkSize: 9) == ["12345678"])
    }

    @Test func beforeReadRunsBeforeEveryRead() throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer { close(fds[0]) }
        _ = Array("one\n".utf8).withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }
        close(fds[1])
        var events: [String] = []
        try LineReader(fd: fds[0]).forEachLine(beforeRead: { events.append("read") }) { (line: LineReader.Line) in
            if case .complete(let bytes) = line { events.append(String(decoding: bytes, as: UTF8.self)) }
        }
        #expect(events == ["read", "one", "read"])
    }
}

/// The line writer keeps its first failure.
struct LineWriterTests {
    @Test func aFullDeviceIsReportedNotIgnored() throws {
        let fd = open("/dev/full", O_WRONLY | O_CLOEXEC)
        try #require(fd >= 0)
        defer { close(fd) }
        let writer = LineWriter(fd: fd)
        writer.writeLine("lost")
        #expect(writer.failure == nil, "buffered, not yet written")
        #expect(throws: Errno.noSpace) { try writer.finish() }
        writer.writeLine("dropped after a failure")
        #expect(writer.failure == .noSpace)
    }
}
