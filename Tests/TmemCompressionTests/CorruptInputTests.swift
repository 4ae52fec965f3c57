import Testing
import TmemCompression

/// Damaged compressed objects: decompress must throw, or at worst fill exactly `dst` and nothing
/// else. It never returns a short or long page, and never writes outside its destination.
struct CorruptInputTests {
    static let compressing: [CompressionAlgorithm] = [.lz4, .zstd]

    @Test(arguments: compressing, PageKind.allCases)
    func everyTruncationThrows(algorithm: CompressionAlgorithm, kind: PageKind) throws {
        var compressor = try PageCompressor(algorithm: algorithm)
        let object = try #require(compressed(kind.page(), with: &compressor, capacity: pageSize * 2))
        for length in 0..<object.count {
            #expect(throws: CompressionError.self, "first \(length) of \(object.count) bytes") {
                _ = try decompressed(Array(object.prefix(length)), with: &compressor)
            }
        }
    }

    @Test(arguments: compressing, PageKind.allCases)
    func trailingBytesThrow(algorithm: CompressionAlgorithm, kind: PageKind) throws {
        var compressor = try PageCompressor(algorithm: algorithm)
        let object = try #require(compressed(kind.page(), with: &compressor, capacity: pageSize * 2))
        for trailer in [[0x00], [0xFF], [0x28, 0xB5, 0x2F, 0xFD], [UInt8](repeating: 0x11, count: 100)] as [[UInt8]] {
            #expect(throws: CompressionError.self, "\(trailer.count) trailing bytes") {
                _ = try decompressed(object + trailer, with: &compressor)
            }
        }
    }

    @Test(arguments: PageKind.allCases)
    func zstdFrameWithDamagedMagicThrows(kind: PageKind) throws {
        var compressor = try PageCompressor(algorithm: .zstd)
        let object = try #require(compressed(kind.page(), with: &compressor, capacity: pageSize * 2))
        for position in 0..<4 {
            var damaged = object
            damaged[position] ^= 0xFF
            let error = #expect(throws: CompressionError.self) {
                _ = try decompressed(damaged, with: &compressor)
            }
            #expect(error?.code == .corruptData)
        }
    }

    /// An LZ4 block starting 0xFF 0xFF ... declares a literal run longer than the whole block.
    @Test(arguments: PageKind.allCases)
    func lz4BlockWithDamagedLengthsThrows(kind: PageKind) throws {
        var compressor = try PageCompressor(algorithm: .lz4)
        var damaged = try #require(compressed(kind.page(), with: &compressor, capacity: pageSize * 2))
        for position in 0..<min(32, damaged.count) {
            damaged[position] = 0xFF
        }
        let error = #expect(throws: CompressionError.self) {
            _ = try decompressed(damaged, with: &compressor)
        }
        #expect(error?.code == .corruptData)
    }

    @Test func zstdRejectsAnLZ4Block() throws {
        var lz4 = try PageCompressor(algorithm: .lz4)
        var zstd = try PageCompressor(algorithm: .zstd)
        let object = try #require(compressed(PageKind.textLike.page(), with: &lz4, capacity: pageSize))
        #expect(throws: CompressionError.self) {
            _ = try decompressed(object, with: &zstd)
        }
    }

    /// Flips each byte of a valid object in turn. Without a checksum in the format some flips (of
    /// literal bytes) decode to a wrong page of the right size: that is the documented caveat. What
    /// must hold for every flip is memory safety and exact size, and that damage is often caught.
    @Test(arguments: compressing, PageKind.allCases)
    func everySingleByteFlipThrowsOrFillsExactlyTheDestination(
        algorithm: CompressionAlgorithm,
        kind: PageKind
    ) throws {
        var compressor = try PageCompressor(algorithm: algorithm)
        let page = kind.page()
        let object = try #require(compressed(page, with: &compressor, capacity: pageSize * 2))
        var detected = 0
        for position in object.indices {
            var damaged = object
            damaged[position] ^= 0xFF
            var threw = false
            let guardsIntact = withGuardedDestination(count: pageSize) { destination in
                damaged.withUnsafeBytes { source in
                    do {
                        try compressor.decompress(source, into: destination)
                    } catch {
                        threw = true
                    }
                }
            }
            #expect(guardsIntact, "flip at \(position) wrote outside the destination")
            detected += threw ? 1 : 0
        }
        #expect(detected > 0, "no flip of \(object.count) bytes was detected")
        print("\(algorithm) \(kind): \(detected) of \(object.count) single-byte flips detected")
    }
}
