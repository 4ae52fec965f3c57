import Synchronization

/// A fixed array of mutexes, each guarding one value: stripe locks. Mutexes cannot live in a Swift
/// Array (they are not copyable), so this owns a buffer of them.
public final class MutexArray<Value: Sendable>: @unchecked Sendable {
    // @unchecked: the buffer is initialised in init and freed in deinit; in between it is reached only
    // through Mutex.withLock, which makes every access to the guarded value exclusive.
    private let locks: UnsafeMutablePointer<Mutex<Value>>
    /// The number of mutexes.
    public let count: Int

    /// Creates `count` mutexes, each guarding `make()`'s value.
    public init(count: Int, _ make: () -> Value) {
        self.count = count
        locks = .allocate(capacity: count)
        for i in 0..<count { (locks + i).initialize(to: Mutex(make())) }
    }

    deinit {
        _ = locks.deinitialize(count: count)
        locks.deallocate()
    }

    /// Runs `body` holding mutex `i`.
    @inline(__always)
    public func withLock<R, E: Error>(_ i: Int, _ body: (inout Value) throws(E) -> R) throws(E) -> R {
        try locks[i].withLock { (value: inout Value) throws(E) -> R in try body(&value) }
    }

    /// Runs `body` holding every mutex in `stripes` (not empty), taken in ascending order (the one order
    /// every multi-stripe holder uses, so two holders cannot deadlock). `body` gets the value of the last
    /// one taken (the highest stripe).
    public func withLocks<R, E: Error>(_ stripes: StripeSet, _ body: (inout Value) throws(E) -> R) throws(E) -> R {
        var remaining = stripes
        guard let first = remaining.popFirst() else { preconditionFailure("no stripes to lock") }
        return try withLock(first) { (value: inout Value) throws(E) -> R in
            remaining.isEmpty ? try body(&value) : try withLocks(remaining, body)
        }
    }
}

/// A set of stripe numbers (0..<128) as two words.
public struct StripeSet: Sendable, Equatable {
    public var low: UInt64 = 0
    public var high: UInt64 = 0

    public init() {}

    public var isEmpty: Bool { low == 0 && high == 0 }

    public mutating func insert(_ stripe: Int) {
        precondition((0..<128).contains(stripe), "a stripe is 0..<128")
        if stripe < 64 { low |= 1 << UInt64(stripe) } else { high |= 1 << UInt64(stripe - 64) }
    }

    public func contains(_ stripe: Int) -> Bool {
        stripe < 64 ? low & (1 << UInt64(stripe)) != 0 : high & (1 << UInt64(stripe - 64)) != 0
    }

    /// Removes and returns the lowest stripe.
    public mutating func popFirst() -> Int? {
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
