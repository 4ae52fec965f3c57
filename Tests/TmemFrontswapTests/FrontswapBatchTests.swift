import Testing
import Tmem
import TmemFrontswap
import TmemTestKit

/// storeBatch and loadBatch do what one store or load per page does, whatever the backend answers.
struct FrontswapBatchTests {
    @Test func batchesAgreeWithAModelThroughRefusalsAndDeviceReads() throws {
        var rng = seededGenerator("FrontswapBatchTests.batches", default: 41)
        // Room for 40 of 64 pages: some stores of each batch are refused and go to the swap file.
        let f = Fixture(backend: RAMPool(capacity: 40 * pageSize))
        try f.initArea(0, pages: 64)
        var model: [Int: [UInt8]] = [:]
        for round in 0..<200 {
            var offsets = Array(Set((0..<Int(rng.next() % 16 + 1)).map { _ in Int(rng.next() % 64) }))
            offsets.shuffle(using: &rng)
            if rng.next() % 2 == 0 {
                let pages = offsets.map { page(round * 64 + $0) }
                var results = [Result<StoreResult, FrontswapError>](repeating: .success(.tmem), count: offsets.count)
                try withPointers(pages) { pointers in
                    try offsets.withUnsafeBufferPointer { o in
                        try results.withUnsafeMutableBufferPointer { r in
                            try f.frontswap.storeBatch(SwapArea(0), offsets: o, pages: pointers, results: r)
                        }
                    }
                }
                for (i, offset) in offsets.enumerated() {
                    #expect((try? results[i].get()) != nil, "store of \(offset) failed: \(results[i])")
                    model[offset] = pages[i]
                }
            } else {
                var buffers = offsets.map { _ in [UInt8](repeating: 0xEE, count: pageSize) }
                var results = [Result<LoadResult, FrontswapError>](repeating: .success(.notStored), count: offsets.count)
                try withMutablePointers(&buffers) { pointers in
                    try offsets.withUnsafeBufferPointer { o in
                        try results.withUnsafeMutableBufferPointer { r in
                            try f.frontswap.loadBatch(SwapArea(0), offsets: o, into: pointers, results: r)
                        }
                    }
                }
                for (i, offset) in offsets.enumerated() {
                    let result = try results[i].get()
                    if let expected = model[offset] {
                        #expect(result != .notStored && buffers[i] == expected, "round \(round) offset \(offset)")
                        #expect(result == (f.frontswap.isHeld(SwapArea(0), offset: PageOffset(offset)) ? .tmem : .disk))
                    } else {
                        #expect(result == .notStored)
                    }
                }
            }
        }
        let c = f.frontswap.counters
        #expect(c.succStores > 0 && c.failedStores > 0, "the batches met both outcomes")
        #expect(c.currPages <= 40)
    }

    @Test func aBatchWithAnOffsetOutOfRangeChangesNothing() throws {
        let f = Fixture(backend: RAMPool(capacity: 1 << 20))
        try f.initArea(0, pages: 4)
        let pages = [page(1), page(2)]
        var results = [Result<StoreResult, FrontswapError>](repeating: .success(.tmem), count: 2)
        let error = #expect(throws: FrontswapError.self) {
            try withPointers(pages) { pointers in
                try [1, 9].withUnsafeBufferPointer { o in
                    try results.withUnsafeMutableBufferPointer { r in
                        try f.frontswap.storeBatch(SwapArea(0), offsets: o, pages: pointers, results: r)
                    }
                }
            }
        }
        #expect(error?.isInvalidArgument == true)
        #expect(try f.load(0, 1).0 == .notStored)
    }
}

/// Calls `body` with a pointer to each page's bytes.
private func withPointers<R>(_ pages: [[UInt8]], _ body: (UnsafeBufferPointer<UnsafeRawPointer>) throws -> R) rethrows -> R {
    let copies = pages.map { bytes -> UnsafeMutableRawPointer in
        let p = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: 16)
        bytes.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: pageSize) }
        return p
    }
    defer { copies.forEach { $0.deallocate() } }
    return try copies.map { UnsafeRawPointer($0) }.withUnsafeBufferPointer(body)
}

/// Calls `body` with a pointer to each buffer's bytes, copying them back afterwards.
private func withMutablePointers<R>(
    _ buffers: inout [[UInt8]], _ body: (UnsafeBufferPointer<UnsafeMutableRawPointer>) throws -> R
) rethrows -> R {
    let scratch = buffers.map { _ in UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: 16) }
    defer { scratch.forEach { $0.deallocate() } }
    let result = try scratch.withUnsafeBufferPointer(body)
    for i in buffers.indices {
        buffers[i] = Array(UnsafeRawBufferPointer(start: scratch[i], count: pageSize))
    }
    return result
}
