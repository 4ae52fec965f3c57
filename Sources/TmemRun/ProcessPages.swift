/// What the monitor knows about every page of one process's registered memory (one mm): resident, stored
/// in a slot of the page store, or absent (never touched, or dropped by the program). Pure value type: the
/// monitor makes the kernel calls each decision asks for, under the process's lock, and tells this table
/// how they went.
///
/// Invariants (checked by the tests' model):
/// - `residentCount` is the number of `.resident` entries;
/// - a slot appears in at most one entry;
/// - a page of the in-flight batch is never served: its faults wait (``decide(_:)`` answers `.wait`) until
///   the batch is finished;
/// - the program's own changes (``drop(_:_:unmapped:)``, ``remap(from:to:length:)``) and forks never come
///   while a batch is in flight: the monitor reads no message of the process meanwhile (docs/RUN.md says
///   why), so a batch's pages stay where they were chosen.
struct ProcessPages: Sendable {
    /// The state of a known page. A page with no entry is absent: its next fault is served zeros.
    enum State: Equatable, Sendable {
        /// Mapped in the program (the monitor served it, or found it present at registration).
        case resident(generation: UInt32)
        /// Moved out of the program; its bytes are in the page store's slot.
        case stored(slot: Int)
    }

    /// How to serve a fault.
    enum FaultDecision: Equatable, Sendable {
        /// The page is being evicted: serve it after the batch.
        case wait
        /// Fill with zeros; `newlyResident` when this adds a resident page (needs room in the budget).
        case fillZeros(newlyResident: Bool)
        /// Fill with the bytes of the store's `slot` (needs room in the budget).
        case load(slot: Int)
    }

    /// What became of one page of a finished batch.
    enum BatchOutcome: Equatable, Sendable {
        /// Its stored copy is now its state.
        case stored
        /// It stays resident (the move failed, e.g. EBUSY for a page shared copy-on-write).
        case keptResident
        /// The program dropped or unmapped it meanwhile: its bytes (and slot, if any) are to be discarded.
        case discarded
        /// Moved, but its copy could not be stored: the monitor must put the bytes back at `page`.
        case restore(page: UInt64)
    }

    private(set) var states: [UInt64: State] = [:]
    private(set) var residentCount = 0
    private var residentDelta = 0
    private var fifo: [(page: UInt64, generation: UInt32)] = []
    private var fifoHead = 0
    private var nextGeneration: UInt32 = 0
    /// The ranges registered with the process's userfaultfd (page addresses, not numbers).
    var registered = AddressRanges()
    private(set) var batch: [UInt64] = []
    private var batchPages: Set<UInt64> = []
    private(set) var deferred: [UInt64] = []
    private var deferredSet: Set<UInt64> = []
    /// Set while a fork without FORK events is being prepared: no eviction.
    var holdEviction = false

    init() {}

    /// Whether an eviction batch is in flight.
    var batchInFlight: Bool { !batch.isEmpty }

    /// The change of ``residentCount`` since the last call (the monitor keeps a total over processes).
    mutating func takeResidentDelta() -> Int {
        defer { residentDelta = 0 }
        return residentDelta
    }

    // MARK: - Faults

    /// How to serve a fault on `page` (a page number).
    func decide(_ page: UInt64) -> FaultDecision {
        if batchPages.contains(page) { return .wait }
        switch states[page] {
        case nil: return .fillZeros(newlyResident: true)
        // Mapped, yet it faulted: a second thread's fault on a page just served (the fill finds it
        // present), or a page the kernel discarded after MADV_FREE (zeros are its content).
        case .resident: return .fillZeros(newlyResident: false)
        case .stored(let slot): return .load(slot: slot)
        }
    }

    /// Records that `page` is mapped in now (filled by the monitor, or found present).
    ///
    /// - Returns: The slot it was loaded from, which the monitor releases.
    @discardableResult
    mutating func filled(_ page: UInt64) -> Int? {
        var released: Int?
        switch states[page] {
        case .resident: return nil
        case .stored(let slot): released = slot
        case nil: break
        }
        makeResident(page)
        return released
    }

    /// Records a page found mapped in at registration (known pages are left as they are).
    mutating func adoptPresent(_ page: UInt64) {
        if states[page] == nil { makeResident(page) }
    }

    /// Queues a fault to be retried (once per page).
    mutating func deferFault(_ page: UInt64) {
        if deferredSet.insert(page).inserted { deferred.append(page) }
    }

    /// Takes the waiting faults, in arrival order; the monitor defers again those still waiting.
    mutating func takeDeferred() -> [UInt64] {
        deferredSet.removeAll(keepingCapacity: true)
        defer { deferred.removeAll(keepingCapacity: true) }
        return deferred
    }

    // MARK: - The program's own changes

    /// MADV_DONTNEED/MADV_REMOVE (`unmapped` false) or munmap (`unmapped` true) of `[start, end)`
    /// (addresses): the pages are absent now.
    ///
    /// - Returns: The slots of stored pages, which the monitor releases.
    mutating func drop(_ start: UInt64, _ end: UInt64, unmapped: Bool) -> [Int] {
        precondition(batch.isEmpty, "no change of the program's mappings is handled during a batch")
        let first = start >> 12
        let last = (end + 4095) >> 12
        var released: [Int] = []
        func dropPage(_ page: UInt64) {
            switch states.removeValue(forKey: page) {
            case .resident:
                residentCount -= 1
                residentDelta -= 1
            case .stored(let slot): released.append(slot)
            case nil: break
            }
        }
        if last - first > UInt64(states.count) {
            for page in states.keys where page >= first && page < last { dropPage(page) }
        } else {
            for page in first..<last { dropPage(page) }
        }
        if unmapped { registered.remove(start, end) }
        return released
    }

    /// mremap of `[from, from+length)` to `to`: every entry moves with its page.
    mutating func remap(from: UInt64, to: UInt64, length: UInt64) {
        precondition(batch.isEmpty, "no change of the program's mappings is handled during a batch")
        let first = from >> 12
        let count = length >> 12
        let target = to >> 12
        var moved: [(UInt64, State)] = []
        if count > UInt64(states.count) {
            for (page, state) in states where page >= first && page < first + count { moved.append((page, state)) }
        } else {
            for page in first..<(first + count) { if let state = states[page] { moved.append((page, state)) } }
        }
        moved.sort { $0.0 < $1.0 }  // the moved pages keep their order among themselves, at the FIFO's tail
        for (page, _) in moved { states.removeValue(forKey: page) }
        for (page, state) in moved {
            let destination = page - first + target
            if case .resident = state {
                nextGeneration &+= 1
                states[destination] = .resident(generation: nextGeneration)
                fifo.append((destination, nextGeneration))
            } else {
                states[destination] = state
            }
        }
        let wasRegistered = registered.gaps(in: from, from + length).isEmpty
        registered.remove(from, from + length)
        if wasRegistered { registered.insert(to, to + length) }
    }

    // MARK: - Eviction

    /// Starts a batch of at most `limit` resident pages, oldest first, skipping those `excluded`.
    ///
    /// - Returns: The page numbers to move (empty: nothing to evict, or a batch is already in flight).
    mutating func startBatch(limit: Int, excluding excluded: (UInt64) -> Bool = { _ in false }) -> [UInt64] {
        guard batch.isEmpty, !holdEviction else { return [] }
        var chosen: [UInt64] = []
        while chosen.count < limit && fifoHead < fifo.count {
            let (page, generation) = fifo[fifoHead]
            fifoHead += 1
            guard states[page] == .resident(generation: generation), !excluded(page) else {
                continue
            }
            chosen.append(page)
        }
        if fifoHead > 4096 && fifoHead * 2 > fifo.count {
            fifo.removeFirst(fifoHead)
            fifoHead = 0
        }
        batch = chosen
        batchPages = Set(chosen)
        return chosen
    }

    /// Finishes the in-flight batch.
    ///
    /// - Parameters:
    ///   - moved: Per page of the batch, whether the helper moved it out.
    ///   - slots: Per page, the slot its bytes were stored in (nil: not moved, or the store failed).
    /// - Returns: One outcome per page. Slots of pages whose outcome is not `.stored` are the monitor's
    ///   to release.
    mutating func finishBatch(moved: [Bool], slots: [Int?]) -> [BatchOutcome] {
        precondition(moved.count == batch.count && slots.count == batch.count, "one result per batch page")
        var outcomes: [BatchOutcome] = []
        outcomes.reserveCapacity(batch.count)
        for (i, page) in batch.enumerated() {
            guard case .resident(let generation) = states[page] else {
                outcomes.append(.discarded)
                continue
            }
            guard moved[i] else {
                fifo.append((page, generation))
                outcomes.append(.keptResident)
                continue
            }
            guard let slot = slots[i] else {
                fifo.append((page, generation))
                outcomes.append(.restore(page: page))
                continue
            }
            states[page] = .stored(slot: slot)
            residentCount -= 1
            residentDelta -= 1
            outcomes.append(.stored)
        }
        batch = []
        batchPages = []
        return outcomes
    }

    // MARK: - Fork and end

    /// The child's table after a fork: the same pages (stored ones share their slots) and registered ranges.
    ///
    /// - Returns: The child's table and the slots it shares, which the monitor retains once more each.
    func forked() -> (child: ProcessPages, sharedSlots: [Int]) {
        precondition(batch.isEmpty, "a fork is never handled during a batch")
        var child = ProcessPages()
        child.states = states
        child.residentCount = residentCount
        child.residentDelta = residentCount
        child.fifo = Array(fifo[fifoHead...])
        child.nextGeneration = nextGeneration
        child.registered = registered
        var shared: [Int] = []
        for case .stored(let slot) in states.values { shared.append(slot) }
        return (child, shared)
    }

    /// Every stored page (for bringing them all back before a fork without FORK events).
    var storedPages: [(page: UInt64, slot: Int)] {
        states.compactMap { page, state in
            if case .stored(let slot) = state { return (page, slot) }
            return nil
        }
    }

    /// Ends the table (the process exited or exec'd).
    ///
    /// - Returns: Every slot it held, which the monitor releases.
    mutating func clear() -> [Int] {
        let slots = storedPages.map(\.slot)
        residentDelta -= residentCount
        residentCount = 0
        states = [:]
        fifo = []
        fifoHead = 0
        return slots
    }

    private mutating func makeResident(_ page: UInt64) {
        if case .resident = states[page] {} else {
            residentCount += 1
            residentDelta += 1
        }
        nextGeneration &+= 1
        states[page] = .resident(generation: nextGeneration)
        fifo.append((page, nextGeneration))
    }
}
