/// A small, fast, seedable random number generator (SplitMix64) for reproducible randomized tests.
///
/// Tests print their seed; set `TMEM_TEST_SEED` to replay one (see ``testSeed(default:)``).
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Creates a generator from a seed; equal seeds give equal sequences.
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The seed for a randomized test: `TMEM_TEST_SEED` from the environment if set, else `fallback`.
/// The caller prints it, so that any failure can be replayed.
///
/// - Parameter fallback: The seed to use when the environment sets none.
/// - Returns: The seed.
public func testSeed(default fallback: UInt64) -> UInt64 {
    guard let text = getenvString("TMEM_TEST_SEED"), let seed = UInt64(text) else { return fallback }
    return seed
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

func getenvString(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    return String(cString: value)
}
