#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Testing
import Tmem
import TmemSwapFile
import TmemTestKit

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

    @Test(.enabled(if: geteuid() == 0, "mounting a tmpfs to fill needs root"))
    func fullDiskIsReportedWithItsErrno() throws {
        let disk = try #require(SmallFileSystem(bytes: 64 << 10))
        defer { disk.unmount() }
        let path = disk.directory.file("swap")
        let file = try SwapFile(path: path, slots: 4)
        disk.fill()
        let page = [UInt8](repeating: 1, count: 4096)
        let error = #expect(throws: BackingDeviceError.self) { try page.withUnsafeBytes { try file.write(slot: 0, page: $0) } }
        #expect(error?.errno == .noSpace)
        #expect(error?.message.contains(path) == true, "\(error?.message ?? "")")
    }

    @Test(arguments: ["/dev/zero", "/dev/null", "/dev/full"])
    func characterDevicesAreRefused(path: String) throws {
        let error = #expect(throws: BackingDeviceError.self) { try SwapFile(path: path, slots: 4) }
        #expect(error?.errno == Errno(ENOTBLK))
        #expect(
            error?.message == "swap file \(path) is a character device: use a regular file or a block device",
            "\(error?.message ?? "")")
        #expect(throws: BackingDeviceError.self) { try SwapFile.checkUsable(path: path) }
    }

    @Test func aDirectoryIsRefused() throws {
        let dir = TemporaryDirectory()
        let error = #expect(throws: BackingDeviceError.self) { try SwapFile(path: dir.path, slots: 4) }
        #expect(error?.errno == Errno(EISDIR))
        #expect(error?.message.contains("is a directory") == true)
    }

    @Test func aFileInUseIsRefusedUntilItIsReleased() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("swap")
        do {
            let first = try SwapFile(path: path, slots: 4)
            let error = #expect(throws: BackingDeviceError.self) { try SwapFile(path: path, slots: 4) }
            #expect(error?.errno == .busy)
            #expect(error?.message == "swap file \(path) is in use by another process (it holds the file's lock)")
            #expect(first.slotCount == 4)
        }
        #expect(try SwapFile(path: path, slots: 4).slotCount == 4, "the lock goes with the first file")
    }

    @Test func anExistingFileOfSomeoneElsesIsRefusedAndKept() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("notes.txt")
        let text = Array("sixteen bytes!!\n".utf8)
        try write(text, to: path)
        let error = #expect(throws: BackingDeviceError.self) { try SwapFile(path: path, slots: 4) }
        #expect(error?.errno == Errno(EEXIST))
        #expect(error?.message == "swap file \(path) already holds 16 bytes that tmem did not write; refusing to overwrite them")
        #expect(try contents(of: path) == text, "the file is untouched")
        let forced = try SwapFile(path: path, slots: 4, options: .init(allowExistingData: true))
        #expect(forced.slotCount == 4)
    }

    @Test func anEmptyExistingFileIsTaken() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("empty")
        try write([], to: path)
        #expect(try SwapFile(path: path, slots: 2).slotCount == 2)
    }

    @Test(.enabled(if: TemporaryDirectory.keepsUserAttributes, "the test directory's file system keeps no user xattrs"))
    func aFileTmemDidNotCreateIsNeverMarkedItsOwn() throws {
        // An empty file of the user's is taken (nothing to lose), but stays the user's: once it holds data,
        // tmem refuses to write over it again without being told.
        let dir = TemporaryDirectory()
        let path = dir.file("mine")
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        try #require(fd >= 0)
        close(fd)
        do { _ = try SwapFile(path: path, slots: 4) }
        let error = #expect(throws: BackingDeviceError.self) { try SwapFile(path: path, slots: 4) }
        #expect(error?.message.contains("that tmem did not write") == true)
        _ = try SwapFile(path: path, slots: 4, options: .init(allowExistingData: true))
        #expect(throws: BackingDeviceError.self, "being allowed once does not make it tmem's") {
            try SwapFile(path: path, slots: 4)
        }
    }

    @Test(.enabled(if: TemporaryDirectory.keepsUserAttributes, "the test directory's file system keeps no user xattrs"))
    func aSwapFileOfOurOwnIsReused() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("swap")
        do {
            let file = try SwapFile(path: path, slots: 4)
            try [UInt8](repeating: 9, count: 4096).withUnsafeBytes { try file.write(slot: 1, page: $0) }
        }
        let again = try SwapFile(path: path, slots: 4)
        var page = [UInt8](repeating: 0, count: 4096)
        try page.withUnsafeMutableBytes { try again.read(slot: 1, into: $0) }
        #expect(page.allSatisfy { $0 == 9 })
    }

    @Test func aTemporaryFileHasNoNameFromTheStart() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("swap")
        let file = try SwapFile(path: path, slots: 4, options: .init(removeOnClose: true))
        #expect(access(path, F_OK) == -1, "the name goes as soon as the file is open")
        try checkRoundTrip(file, slots: [0, 1, 3])
    }

    @Test func theTemporaryFactoryLeavesNothingInItsDirectory() throws {
        let dir = TemporaryDirectory()
        let file = try SwapFile.temporary(in: dir.path, slots: 16)
        #expect(try directoryEntries(dir.path) == [], "no name, even while open")
        #expect(file.path.contains(dir.path))
        try checkRoundTrip(file)
        let missing = #expect(throws: BackingDeviceError.self) { try SwapFile.temporary(in: dir.file("none"), slots: 1) }
        #expect(missing?.errno == Errno(ENOENT))
        #expect(missing?.message.contains(dir.file("none")) == true)
    }

    @Test func moreSlotsThanTheDiskHoldsAreRefused() throws {
        let dir = TemporaryDirectory()
        let error = #expect(throws: BackingDeviceError.self) {
            try SwapFile.checkSpace(forSlots: Int(UInt32.max), at: dir.file("swap"))
        }
        #expect(error?.errno == .noSpace)
        #expect(error?.message.hasPrefix("4294967295 slots at \(dir.file("swap")) need 16.0 TiB, but its file system has") == true,
                "\(error?.message ?? "")")
        try SwapFile.checkSpace(forSlots: 16, at: dir.file("swap"))
        try SwapFile.checkSpace(forSlots: 16, at: dir.path)
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
    private func checkRoundTrip(_ file: SwapFile, slots: [Int] = [0, 7, 15]) throws {
        for slot in slots {
            let page = [UInt8](repeating: UInt8(slot + 1), count: 4096)
            try page.withUnsafeBytes { try file.write(slot: slot, page: $0) }
        }
        var out = [UInt8](repeating: 0, count: 4097)
        try out.withUnsafeMutableBytes {
            try file.read(slot: slots[1], into: UnsafeMutableRawBufferPointer(rebasing: $0[1..<4097]))
        }
        #expect(out[1...].allSatisfy { $0 == UInt8(slots[1] + 1) })
        var aligned = [UInt8](repeating: 0, count: 4096)
        try aligned.withUnsafeMutableBytes { try file.read(slot: slots[2], into: $0) }
        #expect(aligned.allSatisfy { $0 == UInt8(slots[2] + 1) })
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
