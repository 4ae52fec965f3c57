import Testing
import Tmem
import TmemFrontswap
import TmemSwapFile
import TmemTestKit

struct SwapFileTests {
    @Test(arguments: [false, true])
    func pagesRoundTripAtTheirSlots(directIO: Bool) throws {
        let dir = TemporaryDirectory()
        let opened = Result { try SwapFile(path: dir.file("swap"), slots: 16, options: .init(directIO: directIO)) }
        if directIO, case .failure(let error as BackingDeviceError) = opened, error.errno == .invalidArgument {
            // The temporary directory's file system does not do O_DIRECT (tmpfs): nothing to test here.
            return
        }
        let file = try opened.get()
        for slot in [0, 7, 15] {
            let page = [UInt8](repeating: UInt8(slot + 1), count: 4096)
            try page.withUnsafeBytes { try file.write(slot: slot, page: $0) }
        }
        // An unaligned caller buffer works with O_DIRECT too (through a bounce buffer).
        var out = [UInt8](repeating: 0, count: 4097)
        try out.withUnsafeMutableBytes {
            try file.read(slot: 7, into: UnsafeMutableRawBufferPointer(rebasing: $0[1..<4097]))
        }
        #expect(out[1...].allSatisfy { $0 == 8 })
        try file.sync()
    }

    @Test func outOfRangeSlotsAreErrors() throws {
        let dir = TemporaryDirectory()
        let file = try SwapFile(path: dir.file("swap"), slots: 4)
        let page = [UInt8](repeating: 1, count: 4096)
        #expect(throws: BackingDeviceError.self) { try page.withUnsafeBytes { try file.write(slot: 4, page: $0) } }
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
        }
        #expect(throws: BackingDeviceError.self) { try SwapFile(path: path + "/x", slots: 1) }
        let again = try SwapFile(path: path, slots: 1)
        #expect(again.slotCount == 1)
    }
}
