#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
import Tmem
import TmemFrontswap
import TmemTestKit

/// An area's cost follows the slots used, not its size: `init` of four billion slots commits almost no
/// memory, and shrink and invalidate_area find the few held pages without walking every slot.
struct FrontswapLargeAreaTests {
    /// A device of any size that keeps only the slots written.
    final class SparseDevice: BackingDevice {
        let slotCount: Int
        private let slots = Mutex<[Int: [UInt8]]>([:])

        init(slotCount: Int) { self.slotCount = slotCount }

        func write(slot: Int, page: UnsafeRawBufferPointer) throws(BackingDeviceError) {
            slots.withLock { $0[slot] = Array(page) }
        }

        func read(slot: Int, into page: UnsafeMutableRawBufferPointer) throws(BackingDeviceError) {
            guard let bytes = slots.withLock({ $0[slot] }) else {
                throw BackingDeviceError(errno: .io, message: "slot \(slot) was never written")
            }
            page.copyBytes(from: bytes)
        }
    }

    @Test func aHugeAreaCostsWhatItHolds() throws {
        let pages = Int(UInt32.max)
        let before = residentBytes()
        let f = Fixture(backend: RAMPool(capacity: 1 << 20))
        try f.initArea(0, pages: pages, device: SparseDevice(slotCount: pages))
        let offsets = [0, 1, 4095, 4096, 1 << 20, pages / 2, pages - 2, pages - 1]
        for (i, offset) in offsets.enumerated() { #expect(try f.store(0, offset, page(i)) == .tmem) }
        let grown = residentBytes() - before
        #expect(grown < 32 << 20, "an area of \(pages) slots committed \(grown >> 20) MiB for 8 pages")
        // Shrink and invalidate find the pages at both ends of the area.
        #expect(try f.frontswap.shrink(toPages: 4) == 4)
        #expect(try f.frontswap.shrink(toPages: 0) == 0)
        for (i, offset) in offsets.enumerated() { #expect(try f.load(0, offset) == (.disk, page(i)), "offset \(offset)") }
        for (i, offset) in offsets.enumerated() { _ = try f.store(0, offset, page(i + 100)) }
        #expect(try f.frontswap.invalidateArea(SwapArea(0)) == offsets.count)
        #expect(f.frontswap.currPages == 0)
    }
}

/// The process's resident set in bytes (/proc/self/statm's second field).
private func residentBytes() -> Int {
    let file = fopen("/proc/self/statm", "r")!
    defer { fclose(file) }
    var size = 0
    var resident = 0
    withUnsafeMutablePointer(to: &size) { s in
        withUnsafeMutablePointer(to: &resident) { r in _ = withVaList([s, r]) { vfscanf(file, "%ld %ld", $0) } }
    }
    return resident * pageSize
}
