#if canImport(Glibc)
import Glibc
#endif
import Testing
import Tmem
import TmemZcache

/// A Zcache under `ulimit -v` (containers, CI runners): it reserves what its limit needs instead of a
/// fixed 64 GiB, and says clearly when even that is not to be had.
struct ZcacheArenaTests {
    @Test func aLimitedAddressSpaceStillHoldsAPool() async {
        await #expect(processExitsWith: .success) {
            limitAddressSpace(toCurrentPlus: 1 << 30)
            let z = try Zcache(configuration: .init(limit: 64 << 20))
            let pool = try z.createPool(.persistent)
            var page = [UInt8](repeating: 0, count: pageSize)
            for i in 0..<2048 {
                for j in stride(from: 0, to: pageSize, by: 64) { page[j] = UInt8(truncatingIfNeeded: i &* 31 &+ j) }
                let key = Key(pool: pool, object: ObjectID(rawValue: 0), index: PageIndex(rawValue: UInt32(i)))
                guard page.withUnsafeBytes({ z.put(key, page: $0) }) == .stored else { exit(3) }
                var back = [UInt8](repeating: 1, count: pageSize)
                guard try back.withUnsafeMutableBytes({ try z.get(key, into: $0) }), back == page else { exit(4) }
            }
        }
    }

    @Test func aLimitTheAddressSpaceCannotHoldIsAClearError() async {
        await #expect(processExitsWith: .success) {
            limitAddressSpace(toCurrentPlus: 1 << 30)
            do throws(TmemError) {
                _ = try Zcache(configuration: .init(limit: 8 << 30))
                exit(5)
            } catch {
                guard error.message.contains("ulimit -v"), error.message.contains("address space") else { exit(6) }
            }
        }
    }
}

/// Sets RLIMIT_AS to the process's present virtual size plus `extra` bytes.
private func limitAddressSpace(toCurrentPlus extra: Int) {
    let statm = fopen("/proc/self/statm", "r")!
    var pages = 0
    withUnsafeMutablePointer(to: &pages) { _ = withVaList([$0]) { vfscanf(statm, "%ld", $0) } }
    fclose(statm)
    let bytes = rlim_t(pages * pageSize + extra)
    var limit = rlimit(rlim_cur: bytes, rlim_max: bytes)
    precondition(setrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &limit) == 0, "setrlimit failed")
}
