import Tmem

/// The seed for a randomized test: `TMEM_TEST_SEED` from the environment if set, else `fallback`.
///
/// Randomized tests call ``testSeed(_:default:)`` or ``seededGenerator(_:default:)`` instead, which also
/// print the seed; this is the one place the environment is read.
///
/// - Parameter fallback: The seed to use when the environment sets none (fixed, so runs repeat).
/// - Returns: The seed.
public func testSeed(default fallback: UInt64) -> UInt64 {
    guard let text = environmentValue("TMEM_TEST_SEED"), let seed = UInt64(text) else { return fallback }
    return seed
}

/// The seed for the randomized test `test` (``testSeed(default:)``), printed as
/// `test: seed N (TMEM_TEST_SEED=N to replay)` so that any failure can be replayed.
///
/// The one convention for every randomized test of the package: a fixed default, overridable from the
/// environment, always printed. Tests that need several streams (one per thread) derive them from this
/// seed (`seed &+ thread`).
///
/// - Parameters:
///   - test: The test's name, as people will search the log for it.
///   - fallback: The seed to use when the environment sets none.
/// - Returns: The seed.
public func testSeed(_ test: String, default fallback: UInt64) -> UInt64 {
    let seed = testSeed(default: fallback)
    // Test output, not library logging: the seed must reach the log of the run that failed.
    print("\(test): seed \(seed) (TMEM_TEST_SEED=\(seed) to replay)")
    return seed
}

/// A generator for the randomized test `test`, seeded and printed by ``testSeed(_:default:)``.
///
/// - Parameters:
///   - test: The test's name.
///   - fallback: The seed to use when the environment sets none.
/// - Returns: A generator; equal seeds give equal sequences.
public func seededGenerator(_ test: String, default fallback: UInt64) -> SeededGenerator {
    SeededGenerator(seed: testSeed(test, default: fallback))
}
