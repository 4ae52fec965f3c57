#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Testing
import Tmem
import TmemSwapFile

struct SwapFileTests {
    @Test func pagesRoundTripAtTheirSlots() throws {
        let dir = TemporaryDirectory()
        let file = try SwapFile(path: dir.file("swap"), slots: 16)
        try checkRoundTrip(file)
    }

    @Test(.enabled(if: DirectIOPlace.directory != nil, DirectIOPlace.unsupportedReason))
    func pagesRoundTripAtTheirSlotsWithDirectIO() throws {
        let parent = try #require(DirectIOPlace.directory)
        print("O_DIRECT round trip in \(parent)")
        let dir = TemporaryDirectory(prefix: "tmem-test-odirect", in: parent)
        let file = try SwapFile(path: dir.file("swap"), slots: 16, options: .init(directIO: true))
        try checkRoundTrip(file)
    }

    @Test func outOfRangeSlotsAreErrors() throws {
        let dir = TemporaryDirectory()
        let file = try SwapFile(path: dir.file("swap"), slots: 4)
        let page = [UInt8](repeating: 1, count: 4096)
        let high = #expect(throws: BackingDeviceError.self) { try page.withUnsafeBytes { try file.write(slot: 4, page: $0) } }
        #expect(high?.errno == .invalidArgument)
        #expect(throws: BackingDeviceError.self) { try page.withUnsafeBytes { try file.write(slot: -1, page: $0) } }
    }

    @Test func fullDiskIsReportedWithItsErrno() throws {
        let file = try SwapFile(path: "/dev/full", slots: 4)
        let page = [UInt8](repeating: 1, count: 4096)
        let error = #expect(throws: BackingDeviceError.self) { try page.withUnsafeBytes { try file.write(slot: 0, page: $0) } }
        #expect(error?.errno == .noSpace)
        #expect(error?.message.contains("/dev/full") == true)
    }

    @Test func temporaryFileIsRemovedOnClose() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("swap")
        do {
            let file = try SwapFile(path: path, slots: 4, options: .init(removeOnClose: true))
            #expect(file.slotCount == 4)
            #expect(access(path, F_OK) == 0, "the file exists while it is open")
        }
        let gone = access(path, F_OK)
        let code = Errno.current
        #expect(gone == -1 && code == Errno(ENOENT), "\(path) is removed on close (access: \(gone), \(code))")
    }

    @Test func aFileThatIsNotRemovedOnCloseStays() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("swap")
        do {
            let file = try SwapFile(path: path, slots: 4)
            #expect(file.slotCount == 4)
        }
        #expect(access(path, F_OK) == 0)
        var info = stat()
        #expect(stat(path, &info) == 0 && info.st_size == 4 * 4096, "sized to its slots")
    }

    @Test func anUnopenablePathIsAnErrorNamingIt() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("missing") + "/swap"
        let error = #expect(throws: BackingDeviceError.self) { try SwapFile(path: path, slots: 1) }
        #expect(error?.errno == Errno(ENOENT))
        #expect(error?.message.contains(path) == true)
    }

    /// Writes three slots, reads one back into an unaligned buffer (through the bounce buffer under
    /// O_DIRECT), and syncs.
    private func checkRoundTrip(_ file: SwapFile) throws {
        for slot in [0, 7, 15] {
            let page = [UInt8](repeating: UInt8(slot + 1), count: 4096)
            try page.withUnsafeBytes { try file.write(slot: slot, page: $0) }
        }
        var out = [UInt8](repeating: 0, count: 4097)
        try out.withUnsafeMutableBytes {
            try file.read(slot: 7, into: UnsafeMutableRawBufferPointer(rebasing: $0[1..<4097]))
        }
        #expect(out[1...].allSatisfy { $0 == 8 })
        var aligned = [UInt8](repeating: 0, count: 4096)
        try aligned.withUnsafeMutableBytes { try file.read(slot: 15, into: $0) }
        #expect(aligned.allSatisfy { $0 == 16 })
        try file.sync()
    }
}

/// Where a file system takes `O_DIRECT`: tmpfs (often /tmp) refuses it before Linux 6.6, so disk-backed
/// places are tried too, each by opening a probe swap file there with `O_DIRECT` (the code path under test).
enum DirectIOPlace {
    /// The places tried, in order: `$TMPDIR`, /var/tmp, the package's .build directory, /tmp.
    static let candidates: [String] = {
        // This file is <root>/Tests/TmemSwapFileTests/SwapFileTests.swift.
        var root = "\(#filePath)"
        for _ in 0..<3 { root = String(root[..<(root.lastIndex(of: "/") ?? root.startIndex)]) }
        return [environmentValue("TMPDIR"), "/var/tmp", root + "/.build", "/tmp"].compactMap { $0 }
    }()

    /// The first candidate whose file system supports `O_DIRECT`, or nil.
    static let directory: String? = candidates.first { parent in
        guard let probe = try? TemporaryDirectory(making: "tmem-odirect-probe", in: parent) else { return false }
        return (try? SwapFile(path: probe.file("probe"), slots: 1, options: .init(directIO: true))) != nil
    }

    /// Why the O_DIRECT test did not run.
    static var unsupportedReason: Comment {
        Comment(rawValue: "no file system here supports O_DIRECT (tried \(candidates.joined(separator: ", ")))")
    }
}
