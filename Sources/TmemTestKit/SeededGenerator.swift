import TmemReplay

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
