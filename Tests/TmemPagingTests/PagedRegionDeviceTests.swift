import Testing
import Tmem
import TmemPaging
import TmemSwapFile
import TmemTestKit

/// A region paged to a backing device of the caller's own (`.device`), here the test kit's fault-injecting
/// one over a real swap file.
@Suite(.enabled(if: Kernel.allowsUserfaultfd, refusedReason))
struct PagedRegionDeviceTests {
    @Test
    func evictionsThatFailOnTheDeviceLeavePagesResidentAndExact() throws {
        // Transcendent memory refuses everything and every device write fails (ENOSPC): no eviction can
        // succeed, so the region goes over its budget rather than lose a byte.
        let pages = 64
        let budget = 16
        let directory = TemporaryDirectory(prefix: "tmem-paging")
        let swap = try SwapFile(path: directory.file("swap"), slots: pages, options: .init(removeOnClose: true))
        let device = FaultyDevice(wrapping: swap)
        device.setFailWrites(true)
        let region = try PagedRegion(
            size: pages * pageSize,
            backend: RAMPool(capacity: 0),
            configuration: .init(residentBudget: budget * pageSize, swapFile: .device(device))
        )
        let swapFilePath = region.swapFilePath
        #expect(swapFilePath == nil, "a given device is no swap file of the region's")
        let exact = region.withUnsafeMutableBytes { bytes in
            Pattern.fillAll(bytes, pages: pages, version: 1)
            return (0..<pages).allSatisfy { Pattern.matches(bytes, page: $0, version: 1) }
        }
        #expect(exact)
        let failing = region.statistics
        #expect(failing.failedEvictions > 0)
        #expect(failing.evictions == 0)
        #expect(failing.residentPages == pages, "every page whose eviction failed is still mapped")
        #expect(failing.frontswap.deviceErrors > 0)
        #expect(failing.frontswap.currPages == 0, "no slot claims a page the device did not take")

        // The device heals: the budget is enforced again, pages go to the device and fault back exact.
        device.setFailWrites(false)
        try region.setResidentBudget(budget * pageSize)
        let healed = region.statistics
        #expect(healed.residentPages <= budget)
        #expect(healed.frontswap.failedStores >= pages - budget, "the evicted pages went to the device")
        let backExact = region.withUnsafeMutableBytes { bytes in
            (0..<pages).allSatisfy { Pattern.matches(bytes, page: $0, version: 1) }
        }
        #expect(backExact)
        let last = region.close()
        #expect(last.diskFaults > 0)
        #expect(last.frontswap.currPages == 0)
    }
}
