/// The 128-bit name of a shared pool: every user that opens a shared pool with the same uuid reaches
/// the same pool (on a host: every session that proved the host's secret; in a `Cleancache`: every
/// caller of `initSharedFS`).
public struct PoolUUID: Sendable, Hashable, CustomStringConvertible {
    /// Bytes 0...7, little-endian.
    public let low: UInt64
    /// Bytes 8...15, little-endian.
    public let high: UInt64

    /// Wraps two halves.
    public init(low: UInt64, high: UInt64) {
        self.low = low
        self.high = high
    }

    /// Reads a uuid from its 16 wire bytes (little-endian halves).
    ///
    /// - Parameter bytes: Exactly 16 bytes.
    /// - Returns: The uuid, or nil for another length.
    public init?(bytes: some Collection<UInt8>) {
        guard let (low, high) = LittleEndian128.halves(of: bytes) else { return nil }
        self.init(low: low, high: high)
    }

    /// The 16 wire bytes.
    public var bytes: [UInt8] { LittleEndian128.bytes(low: low, high: high) }

    public var description: String {
        let digits = String(high, radix: 16) + ":" + String(low, radix: 16)
        return "uuid \(digits)"
    }
}

/// A 128-bit value on the wire (a pool's uuid, a session's token): 16 bytes, two little-endian halves.
public enum LittleEndian128 {
    /// The halves of exactly 16 bytes, or nil for another length.
    public static func halves(of bytes: some Collection<UInt8>) -> (low: UInt64, high: UInt64)? {
        guard bytes.count == 16 else { return nil }
        var low: UInt64 = 0, high: UInt64 = 0
        for (i, byte) in bytes.enumerated() {
            if i < 8 { low |= UInt64(byte) << (8 * UInt64(i)) } else { high |= UInt64(byte) << (8 * UInt64(i - 8)) }
        }
        return (low, high)
    }

    /// The 16 bytes of two halves.
    public static func bytes(low: UInt64, high: UInt64) -> [UInt8] {
        (0..<16).map { i in UInt8(truncatingIfNeeded: (i < 8 ? low : high) >> (8 * UInt64(i % 8))) }
    }
}
