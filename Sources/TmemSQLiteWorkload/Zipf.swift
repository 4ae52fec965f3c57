import Tmem

/// Draws ranks 0..<n with probability proportional to 1/(rank+1)^theta (Zipf; theta 0.99 is YCSB's
/// default), by the inversion of Gray et al., "Quickly Generating Billion-Record Synthetic Databases"
/// (SIGMOD 1994): O(n) once for the zeta constant, O(1) per draw. ``scrambled(_:)`` spreads the hot
/// ranks over the key space, so hot rows are not neighbours in the file.
public struct ZipfGenerator: Sendable {
    public let n: Int
    public let theta: Double
    private let zetaN: Double
    private let alpha: Double
    private let eta: Double
    private let half: Double

    public init(n: Int, theta: Double = 0.99) {
        precondition(n >= 2 && theta > 0 && theta < 1, "Zipf over at least two ranks, 0 < theta < 1")
        self.n = n
        self.theta = theta
        var zeta = 0.0
        for i in 1...n { zeta += 1 / pow(Double(i), theta) }
        zetaN = zeta
        let zeta2 = 1 + 1 / pow(2, theta)
        alpha = 1 / (1 - theta)
        eta = (1 - pow(2 / Double(n), 1 - theta)) / (1 - zeta2 / zeta)
        half = 1 + pow(0.5, theta)
    }

    /// A rank: 0 is the most frequent.
    public func next(using rng: inout some RandomNumberGenerator) -> Int {
        let u = Double.random(in: 0..<1, using: &rng)
        let uz = u * zetaN
        if uz < 1 { return 0 }
        if uz < half { return 1 }
        return min(n - 1, Int(Double(n) * pow(eta * u - eta + 1, alpha)))
    }

    /// A rank's key: a fixed permutation of 0..<n (multiplication by an odd constant modulo the next
    /// power of two, cycle-walked back into range).
    public func scrambled(_ rank: Int) -> Int {
        var bits = 1
        while (1 << bits) < n { bits += 1 }
        let mask = UInt64(1) << UInt64(bits) - 1
        var x = UInt64(rank)
        repeat { x = (x &* 0x9E37_79B9_7F4A_7C15 &+ 0x632B_E59B_D9B4_E019) & mask } while x >= UInt64(n)
        return Int(x)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
