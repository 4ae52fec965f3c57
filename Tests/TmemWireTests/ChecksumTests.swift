import Testing
import Tmem
import TmemTestKit

/// `tmem32` is part of the wire: its values are pinned here, and it is checked against a second
/// implementation written from the pseudo-code of docs/PROTOCOL.md alone.
@Suite struct ChecksumTests {
    /// Values computed when the protocol was frozen (and, independently, by a Python transcription of
    /// the document). A change here breaks every client and host of another version.
    static let pinned: [(name: String, bytes: [UInt8], checksum: UInt32)] = [
        ("empty", [], 0x751F_0653),
        ("tmem", Array("tmem".utf8), 0xF37A_9FB6),
        ("fox", Array("The quick brown fox jumps over the lazy dog".utf8), 0x7029_A777),
        ("0...31", (0..<32).map { UInt8($0) }, 0x70CD_D5FE),
        ("0...32", (0..<33).map { UInt8($0) }, 0x5FED_0C98),
        ("4096 zeros", [UInt8](repeating: 0, count: 4096), 0x205D_8E85),
        ("4096 counting", (0..<4096).map { UInt8(truncatingIfNeeded: $0) }, 0xB5A7_522E),
        ("4095 0xFF", [UInt8](repeating: 0xFF, count: 4095), 0xC9DB_DF9B),
    ]

    @Test(arguments: ChecksumTests.pinned.indices)
    func knownValuesArePinned(_ i: Int) {
        let (name, bytes, checksum) = Self.pinned[i]
        #expect(bytes.withUnsafeBytes { tmem32($0) } == checksum, "\(name)")
        #expect(Self.documented(bytes) == checksum, "\(name)")
    }

    @Test func emptyBufferWithoutABaseAddressHasTheEmptyChecksum() {
        #expect(tmem32(UnsafeRawBufferPointer(start: nil, count: 0)) == 0x751F_0653)
    }

    /// Every length 0...5000, at every alignment of the first byte.
    @Test func matchesTheDocumentsPseudoCode() {
        var rng = seededGenerator("matchesTheDocumentsPseudoCode", default: 0x7133_0101)
        let data = randomBytes(5000 + 8, using: &rng)
        for length in 0...5000 {
            let offset = length % 8
            let slice = Array(data[offset..<(offset + length)])
            let actual = data.withUnsafeBytes {
                tmem32(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + length)]))
            }
            #expect(actual == Self.documented(slice), "length \(length), offset \(offset)")
        }
    }

    @Test func everySingleBitFlipOfAPageChangesIt() {
        var bytes = page(42)
        let original = bytes.withUnsafeBytes { tmem32($0) }
        for bit in stride(from: 0, to: bytes.count * 8, by: 7) {
            bytes[bit / 8] ^= 1 << (bit % 8)
            #expect(bytes.withUnsafeBytes { tmem32($0) } != original, "bit \(bit)")
            bytes[bit / 8] ^= 1 << (bit % 8)
        }
    }

    /// docs/PROTOCOL.md, "The checksum `tmem32`", transcribed line by line: words assembled from bytes
    /// (not loaded), so neither alignment nor the machine's byte order plays a part.
    static func documented(_ x: [UInt8]) -> UInt32 {
        func rotl(_ v: UInt64, _ r: UInt64) -> UInt64 { (v << r) | (v >> (64 - r)) }
        func w(_ k: Int) -> UInt64 {
            (0..<8).reduce(UInt64(0)) { $0 | UInt64(x[8 * k + $1]) << (8 * UInt64($1)) }
        }
        var a: UInt64 = 0x9E37_79B9_7F4A_7C15
        var b: UInt64 = 0xC2B2_AE3D_27D4_EB4F
        var c: UInt64 = 0x1656_67B1_9E37_79F9
        var d: UInt64 = 0x27D4_EB2F_1656_67C5
        let p: UInt64 = 0x100_0000_01B3
        let n = x.count
        var i = 0
        while n - 32 * i >= 32 {
            a = rotl((a ^ w(4 * i + 0)) &* p, 31)
            b = rotl((b ^ w(4 * i + 1)) &* p, 29)
            c = rotl((c ^ w(4 * i + 2)) &* p, 27)
            d = rotl((d ^ w(4 * i + 3)) &* p, 25)
            i += 1
        }
        var h = a ^ (b &* 3) ^ (c &* 5) ^ (d &* 7) ^ UInt64(n)
        for byte in x[(32 * i)...] { h = (h ^ UInt64(byte)) &* p }
        h ^= h >> 29
        h = h &* 0xBF58_476D_1CE4_E5B9
        h ^= h >> 32
        return UInt32(truncatingIfNeeded: h)
    }
}
