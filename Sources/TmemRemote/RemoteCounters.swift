import Synchronization

/// The remote backend's counters (atomics: bumped on the callers' threads and the event loop).
final class RemoteCounters: Sendable {
    let puts = Atomic<Int>(0)
    let storedPuts = Atomic<Int>(0)
    let compressedPuts = Atomic<Int>(0)
    let refusedByHost = Atomic<Int>(0)
    let refusedUnreachable = Atomic<Int>(0)
    let gets = Atomic<Int>(0)
    let hits = Atomic<Int>(0)
    let misses = Atomic<Int>(0)
    let timeouts = Atomic<Int>(0)
    let lostPages = Atomic<Int>(0)
    let damagedPages = Atomic<Int>(0)
    let flushes = Atomic<Int>(0)
    let reconnects = Atomic<Int>(0)
    let sessionsLost = Atomic<Int>(0)
    let shrinkNotices = Atomic<Int>(0)
    let goAways = Atomic<Int>(0)

    /// Every counter under its name, in a fixed order.
    var named: [(name: String, value: Int)] {
        func v(_ a: borrowing Atomic<Int>) -> Int { a.load(ordering: .relaxed) }
        return [
            ("puts", v(puts)), ("stored_puts", v(storedPuts)), ("compressed_puts", v(compressedPuts)),
            ("refused_by_host", v(refusedByHost)), ("refused_unreachable", v(refusedUnreachable)), ("gets", v(gets)),
            ("hits", v(hits)), ("misses", v(misses)), ("timeouts", v(timeouts)), ("lost_pages", v(lostPages)),
            ("damaged_pages", v(damagedPages)), ("flushes", v(flushes)), ("reconnects", v(reconnects)),
            ("sessions_lost", v(sessionsLost)), ("shrink_notices", v(shrinkNotices)), ("go_aways", v(goAways)),
        ]
    }
}
