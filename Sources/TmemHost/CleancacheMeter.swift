import Synchronization

/// The host's count of what clients did with its ephemeral pools (cleancache's pools), under the names
/// the kernel's cleancache kept in debugfs: one meter per session and one host-wide.
///
/// What each counter counts, on ephemeral pools only (private and shared; persistent pools are
/// frontswap's and counted apart, as refusals and pages):
/// - `succGets`: GETs that returned a page (the kernel's `succ_gets`);
/// - `failedGets`: GETs that returned none: a miss, or a copy the host could not return (`failed_gets`);
/// - `puts`: PUTs the host stored (`puts`; the refused ones are the session's refusals, by reason);
/// - `invalidates`: FLUSH_PAGE, FLUSH_OBJECT and FLUSH_POOL requests, whether they found pages or not
///   (`invalidates`), and the flush that follows a PUT the wire refused (a bad checksum or length).
///
/// A batch's entries count one each. Evictions are not counted here: the store's meters count them
/// (``UsageMeter/evictedPages``), exact across the store's own evictions.
///
/// Thread safety: atomic counters, bumped without the state lock (a get never takes it for this).
final class CleancacheMeter: Sendable {
    let succGets = Atomic<Int>(0)
    let failedGets = Atomic<Int>(0)
    let puts = Atomic<Int>(0)
    let invalidates = Atomic<Int>(0)

    init() {}

    /// The counters now (each read once, not all at one instant), with `evictedPages` as given.
    func statistics(evictedPages: Int) -> CleancacheStatistics {
        var s = CleancacheStatistics()
        s.succGets = succGets.load(ordering: .relaxed)
        s.failedGets = failedGets.load(ordering: .relaxed)
        s.puts = puts.load(ordering: .relaxed)
        s.invalidates = invalidates.load(ordering: .relaxed)
        s.evictedPages = evictedPages
        return s
    }
}

/// Cleancache's counters as the host kept them for its ephemeral pools: per session
/// (``ClientStatistics/cleancache``) or host-wide since the host started (``HostStatistics/cleancache``).
///
/// Mirrors the kernel's `/sys/kernel/debug/cleancache/{succ_gets,failed_gets,puts,invalidates}` and the
/// backend's `evicted_pages`; the counts are the host's (what reached it), which a client's own
/// ``namedStatistics`` may exceed by what it dropped before sending (a put with a stale token).
public struct CleancacheStatistics: Sendable, Equatable {
    /// Ephemeral pools open (a session's: private and shared; host-wide: every session's private ones
    /// and each shared pool once).
    public var pools = 0
    /// GETs of ephemeral pools that returned a page.
    public var succGets = 0
    /// GETs of ephemeral pools that returned none.
    public var failedGets = 0
    /// PUTs to ephemeral pools the host stored.
    public var puts = 0
    /// Flush requests on ephemeral pools (page, object or pool).
    public var invalidates = 0
    /// Ephemeral pages the host dropped to make room: of the session's private pools (a shared pool's are
    /// the shared account's), or host-wide every one.
    public var evictedPages = 0

    /// Creates zero counters.
    public init() {}

    /// The counters under the kernel's names, in its order (`pools` is not one of them).
    public var namedValues: [(name: String, value: Int)] {
        [("succ_gets", succGets), ("failed_gets", failedGets), ("puts", puts), ("invalidates", invalidates),
         ("evicted_pages", evictedPages)]
    }

    /// Whether anything was counted or a pool is open: what `tmem stat` shows a cleancache row for.
    public var isActive: Bool { pools > 0 || namedValues.contains { $0.value != 0 } }
}

extension Host {
    /// Counts one GET of an ephemeral pool on the session's meter and the host's.
    func countGet(_ meter: CleancacheMeter, hit: Bool) {
        if hit {
            meter.succGets.add(1, ordering: .relaxed)
            cleancache.succGets.add(1, ordering: .relaxed)
        } else {
            meter.failedGets.add(1, ordering: .relaxed)
            cleancache.failedGets.add(1, ordering: .relaxed)
        }
    }

    /// Counts one stored PUT to an ephemeral pool.
    func countPut(_ meter: CleancacheMeter) {
        meter.puts.add(1, ordering: .relaxed)
        cleancache.puts.add(1, ordering: .relaxed)
    }

    /// Counts one flush request on an ephemeral pool.
    func countInvalidate(_ meter: CleancacheMeter) {
        meter.invalidates.add(1, ordering: .relaxed)
        cleancache.invalidates.add(1, ordering: .relaxed)
    }
}
