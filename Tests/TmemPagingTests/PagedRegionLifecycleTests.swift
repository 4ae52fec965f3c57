#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Testing
import Tmem
import TmemPaging
import TmemReplay
import TmemTestKit
import TmemZcache
import TmemSwapFile

/// Kernel accesses into the region, close, trace recording and refusals.
@Suite(.enabled(if: Kernel.allowsUserfaultfd, refusedReason))
struct PagedRegionLifecycleTests {
    @Test(
        .enabled(if: Kernel.servesKernelFaults, "userfaultfd is user-mode-only here: kernel accesses fail with EFAULT")
    )
    func kernelAccessesIntoTheRegionAreServed() throws {
        let pages = 512
        let directory = TemporaryDirectory(prefix: "tmem-paging")
        let region = try ramRegion(pages: pages, configuration: .init(residentBudget: 32 * pageSize))
        region.withUnsafeMutableBytes { bytes in
            Pattern.fillAll(bytes, pages: pages, version: 1)
        }
        // write(2) from evicted pages 0..<16: the kernel reads the region (copy_from_user faults).
        let out = open(directory.file("out"), O_RDWR | O_CREAT | O_TRUNC, 0o600)
        try #require(out >= 0)
        defer { close(out) }
        let written = region.withUnsafeMutableBytes { write(out, $0.baseAddress!, 16 * pageSize) }
        #expect(written == 16 * pageSize)
        var copy = [UInt8](repeating: 0, count: 16 * pageSize)
        #expect(copy.withUnsafeMutableBytes { pread(out, $0.baseAddress!, $0.count, 0) } == 16 * pageSize)
        let fromKernel = copy.withUnsafeMutableBytes { bytes in
            (0..<16).allSatisfy { Pattern.matches(bytes, page: $0, version: 1) }
        }
        #expect(fromKernel)

        // read(2) into evicted pages 100..<116 (copy_to_user faults, as writes), one byte off page
        // alignment so the copy straddles 17 pages.
        copy.withUnsafeMutableBytes { bytes in
            for page in 0..<16 { Pattern.fill(bytes, page: page, version: 7) }
        }
        #expect(copy.withUnsafeBytes { pwrite(out, $0.baseAddress!, $0.count, 0) } == 16 * pageSize)
        let read = region.withUnsafeMutableBytes { pread(out, $0.baseAddress! + 100 * pageSize + 1, 16 * pageSize, 0) }
        #expect(read == 16 * pageSize)
        let landed = region.withUnsafeMutableBytes { bytes in
            (0..<(16 * pageSize)).allSatisfy { bytes[100 * pageSize + 1 + $0] == copy[$0] }
        }
        let neighboursIntact = region.withUnsafeMutableBytes { bytes in
            Pattern.matches(bytes, page: 99, version: 1) && Pattern.matches(bytes, page: 117, version: 1)
        }
        #expect(neighboursIntact)
        #expect(landed)
        let stats = region.close()
        #expect(stats.majorFaults > 0)
    }

    @Test(arguments: [BackendKind.smallRAM, .zcache])
    func closeReleasesEveryTier(backend kind: BackendKind) throws {
        let pages = 1024
        let backend = try kind.make(regionPages: pages)
        let directory = TemporaryDirectory(prefix: "tmem-paging")
        let region = try PagedRegion(
            size: pages * pageSize,
            backend: backend,
            configuration: .init(residentBudget: 64 * pageSize, swapFile: .temporary(directory: directory.path))
        )
        region.withUnsafeMutableBytes { bytes in
            Pattern.fillAll(bytes, pages: pages, version: 1)
        }
        let swapFilePath = region.swapFilePath
        #expect(swapFilePath == nil, "a temporary swap file has no path: it is unlinked once open")
        #expect(try directoryEntries(directory.path).isEmpty, "nothing a SIGKILL could leave behind")
        let before = region.statistics
        #expect(before.frontswap.currPages > 0)
        #expect(
            before.frontswap.failedStores + before.frontswap.repatriatedPages > 0,
            "some pages reached the swap file"
        )
        let last = region.close()
        #expect(last.frontswap.currPages == 0)
        switch backend {
        case let ram as RAMPool:
            #expect(ram.statistics.storedPages == 0 && ram.usedBytes == 0)
        case let zcache as Zcache:
            #expect(zcache.statistics.storedPages == 0)
        default:
            Issue.record("unexpected backend \(backend)")
        }
    }

    @Test
    func aRecordedTraceReplays() throws {
        let directory = TemporaryDirectory(prefix: "tmem-paging")
        let pages = 512
        let tracePath = directory.file("trace")
        let region = try ramRegion(pages: pages, configuration: .init(residentBudget: 32 * pageSize, recordTrace: tracePath))
        region.withUnsafeMutableBytes { bytes in
            Pattern.fillAll(bytes, pages: pages, version: 1)
            for page in stride(from: 0, to: pages, by: 5) { _ = Pattern.matches(bytes, page: page, version: 1) }
            for page in stride(from: 0, to: pages, by: 7) { Pattern.fill(bytes, page: page, version: 2) }
        }
        let stats = region.close()
        #expect(stats.traceFailure == nil)

        // Parse every line; replay it against a fresh frontswap with a small corpus.
        var operations: [TraceOperation] = []
        let fd = open(tracePath, O_RDONLY)
        try #require(fd >= 0)
        try LineReader(fd: fd).forEachLine { line in
            if let operation = try TraceOperation.parse(line) { operations.append(operation) }
        }
        close(fd)
        #expect(operations.first == .initArea(area: 0, pages: pages))
        #expect(operations.last == .invalidateArea(area: 0))
        var stores = 0
        var loads = 0
        var invalidates = 0
        for operation in operations {
            switch operation {
            case .store(_, _, let k):
                #expect(k == stores, "K counts stores from 0")
                stores += 1
            case .load: loads += 1
            case .invalidate: invalidates += 1
            default: break
            }
        }
        #expect(stores == stats.frontswap.succStores + stats.frontswap.failedStores)
        #expect(loads == stats.frontswap.loads + stats.frontswap.diskLoads)
        #expect(invalidates > 0)

        // K runs up to the store count: a corpus of that many (sparse, zero) pages serves every store.
        let corpusPath = directory.file("corpus")
        let corpusFD = open(corpusPath, O_WRONLY | O_CREAT, 0o600)
        #expect(ftruncate(corpusFD, off_t(stores * pageSize)) == 0)
        close(corpusFD)
        let replayer = Replayer(
            backend: RAMPool(capacity: pages * pageSize),
            corpus: try PageCorpus(path: corpusPath),
            swapFiles: .init(path: directory.file("replay-swap"), removeOnClose: true)
        )
        var answers: [String] = []
        for operation in operations { answers.append(replayer.execute(operation)) }
        #expect(
            !answers.contains { $0.hasPrefix("error") || $0 == "none" },
            "\(answers.filter { $0.hasPrefix("error") || $0 == "none" }.prefix(3))"
        )
    }

    @Test(.enabled(if: geteuid() == 0, "mounting a tmpfs to fill needs root"))
    func aSwapDeviceThatFailsKeepsPagesMappedAndExact() throws {
        // Transcendent memory refuses everything and the swap file is on a full tmpfs (every write: ENOSPC):
        // no page can be evicted, so the region goes over its budget rather than lose a byte.
        let pages = 64
        let disk = try #require(SmallFileSystem(bytes: 64 << 10), "mount a 64 KiB tmpfs")
        defer { disk.unmount() }
        let swapPath = disk.directory.file("swap")
        disk.fill()
        let region = try PagedRegion(
            size: pages * pageSize,
            backend: RAMPool(capacity: 0),
            configuration: .init(residentBudget: 16 * pageSize, swapFile: .path(swapPath))
        )
        let exact = region.withUnsafeMutableBytes { bytes in
            Pattern.fillAll(bytes, pages: pages, version: 1)
            return (0..<pages).allSatisfy { Pattern.matches(bytes, page: $0, version: 1) }
        }
        #expect(exact)
        let stats = region.close()
        #expect(stats.failedEvictions > 0)
        #expect(stats.residentPages == pages)
        #expect(stats.frontswap.deviceErrors > 0)
        #expect(fileExists(swapPath), "a swap file given by path is not removed")
    }

    @Test
    func sizesAndBudgetsOutOfRangeAreRefused() {
        func refusal(size: Int, budget: Int) -> PagingError? {
            do {
                _ = try PagedRegion(
                    size: size,
                    backend: RAMPool(capacity: 0),
                    configuration: .init(residentBudget: budget)
                )
                return nil
            } catch {
                return error
            }
        }
        #expect(refusal(size: 0, budget: 1 << 20)?.isInvalidArgument == true)
        #expect(refusal(size: 1 << 20, budget: pageSize)?.isInvalidArgument == true)
        #expect(refusal(size: 1 << 20, budget: PagedRegion.minimumResidentBudget) == nil)
    }

    @Test
    func aNeverTouchedRegionReadsAsZerosAndAnOddSizeRoundsUpToPages() throws {
        let region = try PagedRegion(size: 10 * pageSize + 1, backend: RAMPool(capacity: 0))
        let (count, size) = (region.pageCount, region.size)
        #expect(count == 11)
        #expect(size == 11 * pageSize)
        let zeros = region.withUnsafeMutableBytes { bytes in
            (0..<11).allSatisfy { Pattern.matches(bytes, page: $0, version: 0) }
        }
        #expect(zeros)
        let stats = region.close()
        #expect(stats.zeroFillFaults == 11)
        #expect(stats.frontswap.succStores + stats.frontswap.failedStores == 0)
    }
}
