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
        guard let (low, high) = littleEndianHalves(bytes) else { return nil }
        self.init(low: low, high: high)
    }

    /// The 16 wire bytes.
    public var bytes: [UInt8] { littleEndianBytes(low, high) }

    public var description: String {
        let digits = String(high, radix: 16) + ":" + String(low, radix: 16)
        return "uuid \(digits)"
    }
}

private func littleEndianHalves(_ bytes: some Collection<UInt8>) -> (UInt64, UInt64)? {
    guard bytes.count == 16 else { return nil }
    var low: UInt64 = 0, high: UInt64 = 0
    for (i, byte) in bytes.enumerated() {
        if i < 8 { low |= UInt64(byte) << (8 * UInt64(i)) } else { high |= UInt64(byte) << (8 * UInt64(i - 8)) }
    }
    return (low, high)
}

private func littleEndianBytes(_ low: UInt64, _ high: UInt64) -> [UInt8] {
    (0..<16).map { i in UInt8(truncatingIfNeeded: (i < 8 ? low : high) >> (8 * UInt64(i % 8))) }
}

