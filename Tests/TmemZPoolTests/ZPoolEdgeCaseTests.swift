import Testing
import Tmem
import TmemTestKit
import TmemZPool

/// Sizes at and past the limits, a full arena, density, configuration errors and misuse traps.
struct ZPoolEdgeCaseTests {
    @Test(arguments: [0, -1, 4_097, Int.max, Int.min])
    func impossibleSizesReturnNil(size: Int) throws {
        let pool = try ZPool()
        #expect(pool.allocate(size: size) == nil)
        #expect(pool.stats.allocatedObjects == 0 && pool.stats.spanBytes == 0)
    }

    @Test func fullPageObjectsTakeOnePageEach() throws {
        let pool = try ZPool()
        let handles = try (0..<64).map { _ in try #require(pool.allocate(size: ZPool.maxObjectSize)) }
        for (key, handle) in handles.enumerated() {
            #expect(pool.objectCapacity(of: handle) == 4_096)
            fill(pool, handle, key: UInt64(key))
        }
        #expect(pool.stats.spanBytes == 64 * 4_096)
        for (key, handle) in handles.enumerated() {
            #expect(holds(pool, handle, key: UInt64(key)))
            pool.free(handle)
        }
        #expect(pool.stats.spanBytes == 0 && pool.stats.allocatedBytes == 0)
    }

    @Test func everySizeGetsARoundedCapacity() throws {
        let pool = try ZPool()
        for size in 1...ZPool.maxObjectSize {
            let handle = try #require(pool.allocate(size: size))
            let capacity = pool.objectCapacity(of: handle)
            #expect(capacity >= size && capacity < size + 255 && capacity % 16 == 0, "size \(size) -> \(capacity)")
            #expect(pool.withObject(handle) { $0.count } == capacity)
            pool.free(handle)
        }
        #expect(pool.stats.spanBytes == 0 && pool.stats.allocatedObjects == 0)
    }

    @Test func objectsOfAbout1700BytesPackWithin3Percent() throws {
        var random = seededGenerator("objectsOfAbout1700BytesPackWithin3Percent", default: 0x7A70_6F6F_6C04)
        let pool = try ZPool()
        let metadataBefore = pool.stats.metadataBytes
        var handles: [ZPoolHandle] = []
        var classBytes = 0
        for _ in 0..<10_000 {
            let handle = try #require(pool.allocate(size: Int.random(in: 1_690...1_710, using: &random)))
            classBytes += pool.objectCapacity(of: handle)
            handles.append(handle)
        }
        let stats = pool.stats
        let overhead = Double(stats.spanBytes) / Double(classBytes) - 1
        let metadataPerObject = Double(stats.metadataBytes - metadataBefore) / Double(handles.count)
        print("1700-byte objects: span overhead \(overhead * 100)%, metadata \(metadataPerObject) B/object")
        #expect(overhead < 0.03)
        // One 16-byte descriptor per span of 7 objects (3 pages: the shortest span that packs within
        // ZPool.spanEfficiencySlack of the best), plus the descriptor array's page-sized commits.
        #expect(metadataPerObject < 4)
        for handle in handles { pool.free(handle) }
        #expect(pool.stats.spanBytes == 0)
    }

    @Test func aFullArenaRefusesThenRecovers() throws {
        let pool = try ZPool(configuration: .init(maxPoolBytes: 4 << 16))  // four spans
        var handles: [ZPoolHandle] = []
        while let handle = pool.allocate(size: 4_096) { handles.append(handle) }
        #expect(handles.count == 4, "four 1-page spans of one 4096-byte object")
        #expect(pool.allocate(size: 100) == nil, "no span left for another class")
        pool.free(handles.removeLast())  // empties its span, which goes back to the free-span stack
        let small = try #require(pool.allocate(size: 100))
        #expect(pool.allocate(size: 4_096) == nil, "the freed span now belongs to the 100-byte class")
        pool.free(small)
        handles.append(try #require(pool.allocate(size: 4_096)))
        for handle in handles { pool.free(handle) }
        #expect(pool.stats.spanBytes == 0 && pool.stats.allocatedObjects == 0)
        checkInvariantsIfCompiledIn(pool)
    }

    @Test(arguments: [0, 65_535, (1 << 40) + 65_536, -1])
    func outOfRangeArenaSizesThrow(maxPoolBytes: Int) {
        #expect(throws: ZPoolError.self) { try ZPool(configuration: .init(maxPoolBytes: maxPoolBytes)) }
    }

    @Test func theLargestArenaCanBeReserved() throws {
        let pool = try ZPool(configuration: .init(maxPoolBytes: 1 << 40))
        let handle = try #require(pool.allocate(size: 10))
        pool.free(handle)
    }

    /// Checks that a child process trapped with `message` on standard error.
    private func expectMessage(_ result: ExitTest.Result?, _ message: String) {
        let output = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(output.contains(message), "stderr was: \(output)")
    }

    @Test func doubleFreeInALiveSpanTraps() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let pool = try ZPool()
            let first = pool.allocate(size: 500)!
            _ = pool.allocate(size: 500)!  // keeps the span alive
            pool.free(first)
            pool.free(first)
        }
        expectMessage(result, "is already free (double free)")
    }

    @Test func doubleFreeInAReleasedSpanTraps() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let pool = try ZPool()
            let only = pool.allocate(size: 500)!
            pool.free(only)
            pool.free(only)
        }
        expectMessage(result, "is in a free span (double free?)")
    }

    @Test func forgedHandleTraps() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let pool = try ZPool()
            pool.free(ZPoolHandle(rawValue: 0))
        }
        expectMessage(result, "is not a pool handle")
    }
}
