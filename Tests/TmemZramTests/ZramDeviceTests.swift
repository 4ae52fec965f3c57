#if canImport(Glibc)
import Glibc
#endif
import Testing
import TmemZram

/// A real zram device of our own: create, write, read, stats, remove. Serialized, so that the
/// "existing devices" snapshot and the device counts are not disturbed by a sibling test.
@Suite(
    .serialized,
    .enabled(
        if: ZramDevice.availability() == .available,
        "needs root, /sys/class/zram-control and a writable sysfs (see ZramDevice.availability())"
    )
)
struct ZramDeviceTests {
    static let pagesWritten = 256

    /// The algorithm the benchmarks use when the kernel has it, else whatever it offers first.
    static func someAlgorithm() throws -> String {
        let offered = try ZramDevice.offeredAlgorithms()
        return offered.contains("lz4") ? "lz4" : try #require(offered.first)
    }

    /// Page `index` of the test pattern: every 8th a zero page, every 8th (offset 4) one repeated
    /// word, the rest a line of text that names the page, repeated.
    static func fill(_ page: UnsafeMutableRawBufferPointer, index: Int) {
        switch index % 8 {
        case 0:
            page.initializeMemory(as: UInt8.self, repeating: 0)
        case 4:
            page.initializeMemory(as: UInt8.self, repeating: UInt8(index % 251 + 1))
        default:
            // A 48-byte line naming the page, repeated: distinct per page, compresses about 10x.
            let line = Array("zram test page \(index), line of text for lz4 ...".utf8.prefix(47)) + [0x0A]
            for offset in 0..<page.count {
                page[offset] = line[offset % line.count]
            }
        }
    }

    @Test func writtenPagesReadBackByteExactAndShowInStats() throws {
        let device = try ZramDevice(algorithm: try Self.someAlgorithm(), diskSize: 2 * Self.pagesWritten * 4096)
        let fd = try device.openForDirectIO()
        var buffer = try AlignedPageBuffer(pages: 2)
        for index in 0..<Self.pagesWritten {
            buffer.withMutablePage(0) { Self.fill($0, index: index) }
            try buffer.withPage(0) { page throws(ZramError) in try device.write(page: page, at: index, fd: fd) }
        }
        for index in (0..<Self.pagesWritten).reversed() {
            buffer.withMutablePage(0) { Self.fill($0, index: index) }
            try buffer.withMutablePage(1) { page throws(ZramError) in try device.read(into: page, at: index, fd: fd) }
            let equal = buffer.withUnsafeBytes { memcmp($0.baseAddress!, $0.baseAddress! + 4096, 4096) == 0 }
            #expect(equal, "slot \(index) read back different bytes")
        }
        let stats = try device.stats()
        #expect(stats.samePages == Self.pagesWritten / 4, "zero and one-word pages are zram's same pages")
        #expect(stats.origDataSize == Self.pagesWritten * 4096)
        #expect(stats.comprDataSize > 0 && stats.comprDataSize < stats.origDataSize / 4, "\(stats)")
        #expect(stats.memUsedTotal > 0 && stats.memUsedTotal <= stats.origDataSize)
        device.closeDescriptor(fd)

        let number = device.number
        try device.remove().get()
        #expect(device.isRemoved)
        #expect(access("/sys/block/zram\(number)", F_OK) != 0, "zram\(number) still exists after remove()")
        #expect(access("/dev/zram\(number)", F_OK) != 0)
    }

    @Test func unwrittenSlotReadsAsZeros() throws {
        let device = try ZramDevice(algorithm: try Self.someAlgorithm(), diskSize: 1 << 20)
        defer { device.remove() }
        let fd = try device.openForDirectIO()
        var buffer = try AlignedPageBuffer(pages: 1)
        buffer.withMutablePage(0) { _ = $0.initializeMemory(as: UInt8.self, repeating: 0xEE) }
        try buffer.withMutablePage(0) { page throws(ZramError) in
            try device.read(into: page, at: device.slotCount - 1, fd: fd)
        }
        #expect(buffer.withUnsafeBytes { $0.allSatisfy { $0 == 0 } })
        #expect(device.slotCount == 256)
    }

    @Test func removeClosesForgottenDescriptorsAndIsIdempotent() throws {
        let device = try ZramDevice(algorithm: try Self.someAlgorithm(), diskSize: 1 << 20)
        _ = try device.openForDirectIO()
        _ = try device.openForDirectIO()
        try device.remove().get()  // reset would fail with EBUSY if a descriptor stayed open
        try device.remove().get()
        #expect(access("/sys/block/zram\(device.number)", F_OK) != 0)
    }

    @Test func releasingTheLastReferenceRemovesTheDevice() throws {
        var number = -1
        do {
            let device = try ZramDevice(algorithm: try Self.someAlgorithm(), diskSize: 1 << 20)
            number = device.number
            #expect(access("/sys/block/zram\(number)", F_OK) == 0)
        }
        #expect(number >= 0)
        #expect(access("/sys/block/zram\(number)", F_OK) != 0)
    }

    @Test func offeredAlgorithmsLeavesNoDeviceBehind() throws {
        let before = Self.zramDevices()
        let offered = try ZramDevice.offeredAlgorithms()
        #expect(!offered.isEmpty && offered.allSatisfy { !$0.contains("[") })
        #expect(Self.zramDevices() == before)
    }

    @Test func unsupportedAlgorithmNamesTheOffersAndLeavesNoDevice() throws {
        let offered = try ZramDevice.offeredAlgorithms()
        let before = Self.zramDevices()
        let error = #expect(throws: ZramError.self) {
            _ = try ZramDevice(algorithm: "no-such-compressor", diskSize: 1 << 20)
        }
        #expect(error?.code == .unsupportedAlgorithm)
        #expect(error?.message.contains("offers") == true)
        for name in offered {
            #expect(error?.message.contains(name) == true, "\(String(describing: error?.message)) lacks \(name)")
        }
        #expect(Self.zramDevices() == before)
    }

    @Test func existingDevicesAreUntouched() throws {
        let before = Self.zramDevices()
        let snapshot = before.map { Self.describe($0) }
        let device = try ZramDevice(algorithm: try Self.someAlgorithm(), diskSize: 1 << 20)
        #expect(!before.contains(device.number))
        let fd = try device.openForDirectIO()
        var buffer = try AlignedPageBuffer(pages: 1)
        buffer.withMutablePage(0) { Self.fill($0, index: 3) }
        try buffer.withPage(0) { page throws(ZramError) in try device.write(page: page, at: 0, fd: fd) }
        try device.remove().get()
        #expect(Self.zramDevices() == before)
        #expect(before.map { Self.describe($0) } == snapshot)
    }

    // MARK: - Helpers

    /// The numbers of the zram devices that exist now, from /sys/block.
    static func zramDevices() -> [Int] {
        guard let directory = opendir("/sys/block") else {
            return []
        }
        defer { closedir(directory) }
        var numbers: [Int] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasPrefix("zram"), let number = Int(name.dropFirst(4)) {
                numbers.append(number)
            }
        }
        return numbers.sorted()
    }

    /// What a device looks like from outside: disksize, algorithm and state (read-only attributes).
    static func describe(_ number: Int) -> String {
        ["disksize", "comp_algorithm", "initstate"].map { attribute in
            readText("/sys/block/zram\(number)/\(attribute)") ?? "?"
        }.joined(separator: "|")
    }

    static func readText(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 4096)
        let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        return count < 0 ? nil : String(decoding: bytes.prefix(count), as: UTF8.self)
    }
}
