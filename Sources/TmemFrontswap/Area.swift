import Synchronization
import Tmem

/// One swap area as frontswap sees it: its slots, its frontswap map, its backing device and its pool.
///
/// ## Implementation Notes
/// Every slot has two bits: `tmemMap` (the frontswap map: transcendent memory holds the slot's page) and
/// `diskMap` (the backing device holds a valid copy). At most one is set: a page lives in exactly one
/// place. The kernel keeps the second fact in its swap subsystem (a byte per slot in `swap_map`); here the
/// frontend is also that subsystem, so it keeps the one bit it needs, and a load of a slot that holds
/// nothing answers `.notStored` instead of returning whatever the file has there.
///
/// Slots are guarded by `stripeCount` striped locks (slot `o` by stripe `o % stripeCount`): every store,
/// load and invalidation of a slot, and every repatriation, holds the slot's stripe lock, so the two bits
/// and the backend's copy change together. Each stripe's lock also guards that stripe's share of the
/// counters, so the hot path touches no shared atomic counter.
///
/// Lock ordering: `control` (init / invalidate_area) → one stripe lock at a time → the backend's locks.
final class Area: Sendable {
    /// Striped locks per area: enough that several threads rarely wait on each other, few enough that an
    /// area costs little (128 × 72 bytes).
    static let stripeCount = 128

    let id: SwapArea
    let pages: Int
    let pool: PoolID
    let device: any BackingDevice
    let tmemMap: AtomicBitmap
    let diskMap: AtomicBitmap
    /// Stores go to transcendent memory only while this is true (false after invalidate_area).
    let enabled = Atomic<Bool>(true)
    /// Serialises init and invalidate_area of this area.
    let control = Mutex(())
    let stripes: MutexArray<FrontswapCounters>

    init(id: SwapArea, pages: Int, pool: PoolID, device: any BackingDevice) {
        self.id = id
        self.pages = pages
        self.pool = pool
        self.device = device
        tmemMap = AtomicBitmap(count: pages)
        diskMap = AtomicBitmap(count: pages)
        stripes = MutexArray(count: Self.stripeCount) { FrontswapCounters() }
    }

    /// The key of a slot's page: one object per area, the offset as index.
    @inline(__always)
    func key(_ offset: Int) -> Key {
        Key(pool: pool, object: ObjectID(rawValue: 0), index: PageIndex(rawValue: UInt32(truncatingIfNeeded: offset)))
    }

    /// Runs `body` holding the slot's stripe lock, with that stripe's counters.
    @inline(__always)
    func withSlot<R, E: Error>(
        _ offset: Int, _ body: (inout FrontswapCounters) throws(E) -> R
    ) throws(E) -> R {
        try stripes.withLock(offset % Self.stripeCount, body)
    }

    /// The stripes of a set of slots, as a 128-bit mask (``stripeCount`` is 128).
    static func stripes<S: Sequence<Int>>(of offsets: S) -> StripeSet {
        var set = StripeSet()
        for offset in offsets { set.insert(offset % stripeCount) }
        return set
    }

    /// Runs `body` holding the stripe locks of every slot in `stripes`, taken in ascending order (the one
    /// order every multi-stripe holder uses, so two batches cannot deadlock). `body` gets the counters of
    /// one of the held stripes: a batch's counts may land in any stripe, as only their sums are read.
    func withSlots<R, E: Error>(
        _ stripes: StripeSet, _ body: (inout FrontswapCounters) throws(E) -> R
    ) throws(E) -> R {
        guard !stripes.isEmpty else {
            var scratch = FrontswapCounters()
            return try body(&scratch)
        }
        return try self.stripes.withLocks(stripes, body)
    }

    /// The sum of every stripe's counters.
    var counters: FrontswapCounters {
        var total = FrontswapCounters()
        for i in 0..<Self.stripeCount {
            stripes.withLock(i) { total.add($0) }
        }
        return total
    }
}
