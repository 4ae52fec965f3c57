/// Frontswap's counters, under the names the kernel's frontswap debugfs used.
///
/// Each counts an operation's own outcome: pages moved by ``Frontswap/shrink(toPages:)`` count only in
/// ``repatriatedPages`` (and leave ``currPages``), not in stores, loads or invalidates.
public struct FrontswapCounters: Sendable, Equatable, CustomStringConvertible {
    /// Stores accepted by transcendent memory.
    public var succStores = 0
    /// Stores refused by transcendent memory and written to the backing device.
    public var failedStores = 0
    /// Loads served from transcendent memory.
    public var loads = 0
    /// Pages dropped from transcendent memory by ``Frontswap/invalidatePage(_:offset:)``.
    public var invalidates = 0
    /// Pages held in transcendent memory now.
    public var currPages = 0
    /// Pages written to the backing device and dropped from transcendent memory by shrink (and, with a
    /// backend that asks for it, by writeback).
    public var repatriatedPages = 0
    /// Loads served from the backing device.
    public var diskLoads = 0
    /// Operations that failed because the backing device did (full disk, I/O error).
    public var deviceErrors = 0
    /// Pages transcendent memory had accepted and could not return: it said they were lost, found its
    /// copy damaged, or missed on a slot the map records. Each was reported to the caller as an error.
    public var lostPages = 0
    /// Loads (and repatriations) that failed because transcendent memory could not answer then; the
    /// slot kept its page.
    public var retryableErrors = 0
    /// Pages the reclaimer or shrink could not repatriate (the device failed, or the backend could not
    /// return them); each stayed where it was.
    public var writebackErrors = 0

    /// Creates zeroed counters.
    public init() {}

    /// The `tmem replay` form: `succ_stores=A failed_stores=B loads=C invalidates=D curr_pages=E`.
    public var description: String {
        "succ_stores=\(succStores) failed_stores=\(failedStores) loads=\(loads) invalidates=\(invalidates) curr_pages=\(currPages)"
    }

    mutating func add(_ other: FrontswapCounters) {
        succStores += other.succStores
        failedStores += other.failedStores
        loads += other.loads
        invalidates += other.invalidates
        currPages += other.currPages
        repatriatedPages += other.repatriatedPages
        diskLoads += other.diskLoads
        deviceErrors += other.deviceErrors
        lostPages += other.lostPages
        retryableErrors += other.retryableErrors
        writebackErrors += other.writebackErrors
    }
}
