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
    let stripes: StripeArray

    init(id: SwapArea, pages: Int, pool: PoolID, device: any BackingDevice) {
        self.id = id
        self.pages = pages
        self.pool = pool
        self.device = device
        tmemMap = AtomicBitmap(count: pages)
        diskMap = AtomicBitmap(count: pages)
        stripes = StripeArray(count: Self.stripeCount)
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
        try stripes[offset % Self.stripeCount].withLock(body)
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
        var remaining = stripes
        guard let first = remaining.popFirst() else {
            var scratch = FrontswapCounters()
            return try body(&scratch)
        }
        return try self.stripes[first].withLock { (counters: inout FrontswapCounters) throws(E) -> R in
            remaining.isEmpty ? try body(&counters) : try withSlots(remaining, body)
        }
    }

    /// The sum of every stripe's counters.
    var counters: FrontswapCounters {
        var total = FrontswapCounters()
        for i in 0..<Self.stripeCount {
            stripes[i].withLock { total.add($0) }
        }
        return total
    }
}

/// A fixed array of mutexes, each guarding one stripe's counters. Mutexes cannot live in a Swift Array
/// (they are not copyable), so this owns a buffer of them.
final class StripeArray: @unchecked Sendable {
    // @unchecked: the buffer is initialised in init and freed in deinit; in between it is reached only
    // through Mutex.withLock, which makes every access to the guarded value exclusive.
    private let locks: UnsafeMutablePointer<Mutex<FrontswapCounters>>
    private let count: Int

    init(count: Int) {
        self.count = count
        locks = .allocate(capacity: count)
        for i in 0..<count { (locks + i).initialize(to: Mutex(FrontswapCounters())) }
    }

    deinit {
        _ = locks.deinitialize(count: count)
        locks.deallocate()
    }

    @inline(__always)
    subscript(i: Int) -> UnsafeMutablePointer<Mutex<FrontswapCounters>> { locks + i }
}

extension UnsafeMutablePointer where Pointee == Mutex<FrontswapCounters> {
    @inline(__always)
    func withLock<R, E: Error>(_ body: (inout FrontswapCounters) throws(E) -> R) throws(E) -> R {
        try pointee.withLock { (value: inout FrontswapCounters) throws(E) -> R in try body(&value) }
    }
}

/// A set of stripe numbers (0..<128) as two words.
struct StripeSet {
    var low: UInt64 = 0
    var high: UInt64 = 0

    var isEmpty: Bool { low == 0 && high == 0 }

    mutating func insert(_ stripe: Int) {
        if stripe < 64 { low |= 1 << UInt64(stripe) } else { high |= 1 << UInt64(stripe - 64) }
    }

    /// Removes and returns the lowest stripe.
    mutating func popFirst() -> Int? {
        if low != 0 {
            let bit = low.trailingZeroBitCount
            low &= low &- 1
            return bit
        }
        guard high != 0 else { return nil }
        let bit = high.trailingZeroBitCount
        high &= high &- 1
        return 64 + bit
    }
}
