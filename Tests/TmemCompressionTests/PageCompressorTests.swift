import Testing
import TmemCompression

/// The page path: round trips, the poor-compression refusal, levels, and wrong sizes.
struct PageCompressorTests {
    @Test(arguments: CompressionAlgorithm.allCases, PageKind.allCases)
    func roundTripRestoresThePage(algorithm: CompressionAlgorithm, kind: PageKind) throws {
        var compressor = try PageCompressor(algorithm: algorithm)
        let page = kind.page()
        let object = try #require(compressed(page, with: &compressor, capacity: algorithm.bound(for: pageSize)))
        #expect(try decompressed(object, with: &compressor) == page)
    }

    @Test(arguments: CompressionAlgorithm.allCases, PageKind.allCases)
    func threeQuarterPageDestinationRefusesOnlyPoorlyCompressiblePages(
        algorithm: CompressionAlgorithm,
        kind: PageKind
    ) throws {
        var compressor = try PageCompressor(algorithm: algorithm)
        let page = kind.page()
        let object = compressed(page, with: &compressor, capacity: poorCompressionThreshold)
        if algorithm == .none || kind == .random {
            #expect(object == nil, "a \(kind) page must not fit \(poorCompressionThreshold) bytes with \(algorithm)")
        } else {
            let fitted = try #require(object)
            #expect(fitted.count <= poorCompressionThreshold)
            #expect(try decompressed(fitted, with: &compressor) == page)
        }
    }

    @Test(arguments: [CompressionAlgorithm.lz4, .zstd])
    func sameFilledPagesCompressToAFewBytes(algorithm: CompressionAlgorithm) throws {
        var compressor = try PageCompressor(algorithm: algorithm)
        for kind in [PageKind.zero, .sameFilledWord] {
            let object = try #require(compressed(kind.page(), with: &compressor, capacity: pageSize))
            #expect(object.count <= 64, "\(kind) page took \(object.count) bytes")
        }
    }

    @Test(arguments: CompressionAlgorithm.allCases, PageKind.allCases)
    func decompressingIntoTheWrongSizeThrows(algorithm: CompressionAlgorithm, kind: PageKind) throws {
        var compressor = try PageCompressor(algorithm: algorithm)
        let object = try #require(compressed(kind.page(), with: &compressor, capacity: algorithm.bound(for: pageSize)))
        for wrongCount in [0, 1, pageSize / 2, pageSize - 1, pageSize + 1, 2 * pageSize] {
            #expect(throws: CompressionError.self, "\(wrongCount)-byte destination") {
                _ = try decompressed(object, with: &compressor, count: wrongCount)
            }
        }
    }

    @Test func reusingOneCompressorForManyPagesKeepsThemApart() throws {
        for algorithm in CompressionAlgorithm.allCases {
            var compressor = try PageCompressor(algorithm: algorithm)
            let pages = (0..<32).map { PageKind.allCases[$0 % 4].page(variant: UInt64($0)) }
            let objects = try pages.map { try #require(compressed($0, with: &compressor, capacity: 2 * pageSize)) }
            for (page, object) in zip(pages, objects).reversed() {
                #expect(try decompressed(object, with: &compressor) == page)
            }
        }
    }

    @Test func defaultLevelsAreZstdOneAndLZ4AccelerationOne() throws {
        #expect(try PageCompressor(algorithm: .zstd).level == 1)
        #expect(try PageCompressor(algorithm: .lz4).level == 1)
        #expect(try PageCompressor(algorithm: .none).level == 0)
        #expect(try PageCompressor(algorithm: .zstd, level: -5).level == -5)
        #expect(try PageCompressor(algorithm: .zstd, level: 19).algorithm == .zstd)
        #expect(try PageCompressor(algorithm: .lz4, level: 8).level == 8)
    }

    @Test(arguments: [
        (CompressionAlgorithm.zstd, 23), (.zstd, -200_000), (.lz4, 0), (.lz4, -1), (.lz4, 65_538), (.none, 1),
    ])
    func outOfRangeLevelIsRejected(algorithm: CompressionAlgorithm, level: Int) {
        let error = #expect(throws: CompressionError.self) {
            _ = try PageCompressor(algorithm: algorithm, level: level)
        }
        #expect(error?.code == .invalidLevel)
    }

    @Test(arguments: [CompressionAlgorithm.lz4, .zstd])
    func otherLevelsStillRoundTrip(algorithm: CompressionAlgorithm) throws {
        let levels = algorithm == .zstd ? [-7, 0, 3, 9] : [2, 17, 65_537]
        for level in levels {
            var compressor = try PageCompressor(algorithm: algorithm, level: level)
            let page = PageKind.textLike.page()
            let object = try #require(compressed(page, with: &compressor, capacity: algorithm.bound(for: pageSize)))
            #expect(try decompressed(object, with: &compressor) == page, "level \(level)")
        }
    }

    @Test func libraryVersionsAreTheSystemOnes() {
        #expect(CompressionAlgorithm.lz4.libraryVersion?.hasPrefix("1.") == true)
        #expect(CompressionAlgorithm.zstd.libraryVersion?.hasPrefix("1.") == true)
        #expect(CompressionAlgorithm.none.libraryVersion == nil)
    }

    @Test func boundsCoverTheWorstCase() {
        #expect(CompressionAlgorithm.lz4.bound(for: pageSize) >= pageSize)
        #expect(CompressionAlgorithm.zstd.bound(for: pageSize) >= pageSize)
        #expect(CompressionAlgorithm.none.bound(for: pageSize) == pageSize)
    }

    @Test func errorsDescribeThemselves() {
        let error = CompressionError(.corruptData, "bad block")
        #expect(error.description.hasPrefix("corruptData: bad block ("))
        #expect(error.code != .sizeMismatch)
    }
}
