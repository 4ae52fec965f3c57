import Tmem

/// The seed for a randomized test: `TMEM_TEST_SEED` from the environment if set, else `fallback`.
/// The caller prints it, so that any failure can be replayed.
///
/// - Parameter fallback: The seed to use when the environment sets none.
/// - Returns: The seed.
public func testSeed(default fallback: UInt64) -> UInt64 {
    guard let text = environmentValue("TMEM_TEST_SEED"), let seed = UInt64(text) else { return fallback }
    return seed
}
