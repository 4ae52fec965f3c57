import Testing
import Tmem

@testable import TmemZram

/// The pure parts: mm_stat parsing across kernel versions, comp_algorithm lists, aligned buffers.
struct ZramStatsTests {
    @Test func parsesTheNineColumnsOfCurrentKernels() throws {
        let stats = try #require(ZramStats(mmStat: "  1048576    12345    65536        0    69632       32        0        3        5\n"))
        #expect(
            stats
                == ZramStats(
                    origDataSize: 1_048_576,
                    comprDataSize: 12_345,
                    memUsedTotal: 65_536,
                    memLimit: 0,
                    memUsedMax: 69_632,
                    samePages: 32,
                    pagesCompacted: 0,
                    hugePages: 3,
                    hugePagesSince: 5
                )
        )
        #expect(stats.effectiveRatio == 16)
    }

    @Test func olderKernelsLeaveTheNewerFieldsNil() throws {
        let linux419 = try #require(ZramStats(mmStat: "4096 100 8192 0 8192 0 0 1"))
        #expect(linux419.hugePages == 1)
        #expect(linux419.hugePagesSince == nil)
        let linux41 = try #require(ZramStats(mmStat: "4096\t100\t8192\t0\t8192\t0\t0\n"))
        #expect(linux41.samePages == 0)
        #expect(linux41.hugePages == nil)
    }

    @Test func extraColumnsOfANewerKernelAreIgnored() throws {
        let stats = try #require(ZramStats(mmStat: "1 2 3 4 5 6 7 8 9 10 11"))
        #expect(stats.hugePagesSince == 9)
    }

    @Test(arguments: ["", "1 2 3 4 5 6", "1 2 three 4 5 6 7", "1 2 3 4 5 6 -7"])
    func malformedTextIsRejected(text: String) {
        #expect(ZramStats(mmStat: text) == nil)
    }

    @Test func emptyDeviceHasNoRatio() {
        #expect(ZramStats(mmStat: "0 0 0 0 0 0 0 0 0")?.effectiveRatio == nil)
    }

    @Test func algorithmListDropsTheBracketsOfTheCurrentOne() {
        #expect(ZramDevice.parseAlgorithms("lzo-rle lzo [lz4] zstd \n") == ["lzo-rle", "lzo", "lz4", "zstd"])
        #expect(ZramDevice.parseAlgorithms("[lzo-rle] lzo\n") == ["lzo-rle", "lzo"])
    }

    @Test func alignedPageBufferIsPageAlignedAndZeroed() throws {
        var buffer = try AlignedPageBuffer(pages: 3)
        #expect(buffer.byteCount == 3 * 4096)
        buffer.withUnsafeBytes { bytes in
            #expect(Int(bitPattern: bytes.baseAddress) % 4096 == 0)
            #expect(bytes.allSatisfy { $0 == 0 })
        }
        buffer.withMutablePage(2) { page in page[0] = 0x5A }
        buffer.withPage(2) { page in
            #expect(Int(bitPattern: page.baseAddress) % 4096 == 0)
            #expect(page.count == 4096 && page[0] == 0x5A)
        }
    }

    @Test func pageOutsideTheBufferTraps() async {
        await #expect(processExitsWith: .failure) {
            let buffer = try AlignedPageBuffer(pages: 1)
            buffer.withPage(1) { _ in }
        }
    }

    @Test func errorsNameTheirCodeAndErrno() {
        let error = ZramError(.sysfs, "writing \"1\" to /sys/block/zram9/reset failed", errno: .busy)
        #expect(error.code == .sysfs)
        #expect(error.description.hasPrefix("sysfs: writing \"1\" to /sys/block/zram9/reset failed (errno 16) ("))
    }
}
