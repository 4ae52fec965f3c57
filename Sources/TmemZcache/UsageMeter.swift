import Synchronization
import Tmem

/// A running count of what some pools hold: pages, their stored bytes, and the pages evicted from
/// them, kept by ``Zcache`` as it stores, flushes and drops pages.
///
/// Every pool has a meter of its own (what ``Zcache/usage(of:)`` reads), and a caller may attach more
/// when it creates a pool (``Zcache/createPool(_:meters:)``): a host gives each pool of a client that
/// client's meter and its own host-wide one, so a client's and the host's totals are exact at every
/// moment, also across Zcache's own ephemeral evictions, at the cost of one atomic load per read.
///
/// Each change is applied to every meter of the pool while the shard lock of the page's chunk is held,
/// so a meter never misses a change; two counters of one meter are not read at one instant (a reader
/// may see a page counted before its bytes).
///
/// Thread safety: any thread may read a meter at any time; only Zcache changes it.
public final class UsageMeter: Sendable {
    let pagesCount = Atomic<Int>(0)
    let storedBytesCount = Atomic<Int>(0)
    let evictedPagesCount = Atomic<Int>(0)

    /// Creates a meter at zero.
    public init() {}

    /// Pages held now by the pools that carry this meter.
    public var pages: Int { pagesCount.load(ordering: .relaxed) }

    /// Their stored bytes (``PoolUsage/storedBytes``: compressed objects with their checksums, 0 for
    /// same-filled pages, 4096 for pages kept uncompressed).
    public var storedBytes: Int { storedBytesCount.load(ordering: .relaxed) }

    /// Ephemeral pages dropped from these pools to make room (by ``Zcache/evictEphemeral(from:chunks:)``
    /// or by Zcache's own eviction), since the meter was made.
    public var evictedPages: Int { evictedPagesCount.load(ordering: .relaxed) }

    /// The meter as a ``PoolUsage`` record (original bytes are 4096 per page).
    public var usage: PoolUsage {
        let pages = self.pages
        return PoolUsage(pages: pages, originalBytes: pages * pageSize, storedBytes: storedBytes)
    }

    @inline(__always)
    func add(pages: Int, storedBytes: Int) {
        if pages != 0 { pagesCount.add(pages, ordering: .relaxed) }
        if storedBytes != 0 { storedBytesCount.add(storedBytes, ordering: .relaxed) }
    }

    func addEvicted(_ pages: Int) { evictedPagesCount.add(pages, ordering: .relaxed) }
}
