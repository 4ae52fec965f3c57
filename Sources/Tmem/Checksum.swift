/// `tmem32`: a fast 32-bit checksum (four independent multiply-rotate lanes over 8-byte little-endian
/// words, then the tail bytes), used for Zcache's stored objects and for payloads on the wire
/// (docs/PROTOCOL.md spells it out for other implementations). Not cryptographic: it catches damaged
/// bytes, which LZ4 and zstd blocks cannot.
///
/// - Parameter bytes: Any bytes (an empty buffer has a checksum too).
/// - Returns: The checksum; the same on every machine for the same bytes.
@inlinable @inline(__always)
public func tmem32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
    var a: UInt64 = 0x9E37_79B9_7F4A_7C15, b: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    var c: UInt64 = 0x1656_67B1_9E37_79F9, d: UInt64 = 0x27D4_EB2F_1656_67C5
    guard let base = bytes.baseAddress else { return tmem32Finish(a ^ (b &* 3) ^ (c &* 5) ^ (d &* 7)) }
    var i = 0
    let n = bytes.count
    while i + 32 <= n {
        a = (a ^ UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt64.self))) &* 0x100_0000_01B3
        b = (b ^ UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self))) &* 0x100_0000_01B3
        c = (c ^ UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i + 16, as: UInt64.self))) &* 0x100_0000_01B3
        d = (d ^ UInt64(littleEndian: base.loadUnaligned(fromByteOffset: i + 24, as: UInt64.self))) &* 0x100_0000_01B3
        a = (a << 31) | (a >> 33); b = (b << 29) | (b >> 35); c = (c << 27) | (c >> 37); d = (d << 25) | (d >> 39)
        i += 32
    }
    var h = a ^ (b &* 3) ^ (c &* 5) ^ (d &* 7) ^ UInt64(n)
    while i < n {
        h = (h ^ UInt64(base.load(fromByteOffset: i, as: UInt8.self))) &* 0x100_0000_01B3
        i += 1
    }
    return tmem32Finish(h)
}

@usableFromInline @inline(__always)
func tmem32Finish(_ value: UInt64) -> UInt32 {
    var h = value
    h ^= h >> 29
    h &*= 0xBF58_476D_1CE4_E5B9
    h ^= h >> 32
    return UInt32(truncatingIfNeeded: h)
}
