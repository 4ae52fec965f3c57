import Synchronization
import Tmem

/// Where a store put the page.
public enum StoreResult: Sendable, Equatable {
    /// Transcendent memory holds it; the backing device was not written.
    case tmem
    /// Transcendent memory refused it (for this reason); it was written to the backing device.
    case disk(RefusalReason)
}

/// Where a load found the page.
public enum LoadResult: Sendable, Equatable {
    /// Copied out of transcendent memory.
    case tmem
    /// Read from the backing device.
    case disk
    /// The slot holds no page: never stored, invalidated, or taken by an exclusive load.
    case notStored
}

/// The frontswap frontend: transcendent memory in front of swap areas, each with a real backing device.
///
/// It implements SEMANTICS.md ("Frontswap") over any ``Backend``: ``store(_:offset:page:)`` offers the page
/// to transcendent memory and writes it to the backing device only if refused; ``load(_:offset:into:)``
/// copies it back from wherever it lives; the frontswap map (one bit per slot) records which slots
/// transcendent memory holds. Each page lives in exactly one place and is never returned stale.
///
/// Memory goes back to the backend off the store path: a store only wakes the frontend's ``Reclaimer``
/// when the backend asks for pages (``Backend/writebackWanted``); the reclaimer hands this frontend its
/// own coldest keys and ``writeBack(_:buffer:)`` repatriates them in batches. When the backend cannot
/// return a page, ``load(_:offset:into:)`` says whether it is lost (the slot is emptied) or unreachable
/// for now (the slot keeps it); it never traps and never returns damaged or stale bytes.
///
/// Thread safety: every method may be called from any number of threads at once. Operations on the same
/// slot are serialised by a striped per-slot lock; operations on different slots of an area run in
/// parallel (see `Area`). The hot path (store/load) takes one stripe lock, does no allocation and touches
/// no global lock or shared counter.
///
/// Mirrors the kernel's `mm/frontswap.c` (removed in Linux 6.1 after zswap absorbed it): `frontswap_init`,
/// `__frontswap_store`, `__frontswap_load`, `__frontswap_invalidate_page`, `__frontswap_invalidate_area`,
/// `frontswap_shrink` and `frontswap_curr_pages`.
///
/// Caveats: areas are numbered 0..<``Configuration/maxAreas`` and, once initialised, keep their size and
/// backing device for the life of the frontend (re-`init` with the same size re-enables stores).
public final class Frontswap: Sendable {
    /// Options fixed when the frontend is made.
    public struct Configuration: Sendable {
        /// A load from transcendent memory also drops the page there (the kernel's "exclusive loads"): the
        /// slot then holds nothing, and the caller owns the only copy.
        public var exclusiveLoads: Bool
        /// The number of area numbers (the kernel's MAX_SWAPFILES is 32).
        public var maxAreas: Int

        /// Creates a configuration.
        ///
        /// - Parameters:
        ///   - exclusiveLoads: Drop a page from transcendent memory when it is loaded.
        ///   - maxAreas: Area numbers run 0..<maxAreas.
        public init(exclusiveLoads: Bool = false, maxAreas: Int = 32) {
            precondition(maxAreas > 0, "there must be room for at least one area")
            self.exclusiveLoads = exclusiveLoads
            self.maxAreas = maxAreas
        }
    }

    /// The backend pages are offered to.
    public let backend: any Backend
    /// The options in force.
    public let configuration: Configuration
    /// The background worker that repatriates pages when the backend asks (``Backend/writebackWanted``),
    /// shared with the other frontends of the same backend; nil when nobody reclaims.
    public let reclaimer: Reclaimer?
    let areas: AreaTable
    /// Serialises the creation of areas (not their use).
    private let creation = Mutex(())

    /// Creates a frontend over a backend.
    ///
    /// - Parameters:
    ///   - backend: Where accepted pages go.
    ///   - configuration: Exclusive loads and the number of areas.
    ///   - reclaimer: The reclaimer of `backend` to join: it then repatriates this frontend's pages (and
    ///     only its own) when the backend asks, off the store path. Without one, a backend past its limit
    ///     refuses stores (they go to the backing device) and nothing moves back until ``shrink(toPages:)``.
    public init(backend: any Backend, configuration: Configuration = .init(), reclaimer: Reclaimer? = nil) {
        precondition(reclaimer == nil || reclaimer!.backend === backend, "a reclaimer serves one backend")
        self.backend = backend
        self.configuration = configuration
        self.reclaimer = reclaimer
        areas = AreaTable(count: configuration.maxAreas)
        reclaimer?.attach(self)
    }

    deinit {
        reclaimer?.detach(self)
        for i in 0..<configuration.maxAreas {
            if let area = areas[i] { backend.destroyPool(area.pool) }
        }
    }

    /// Prepares an area and enables stores for it (mirrors `frontswap_init`): creates one persistent pool
    /// for it in the backend the first time. Calling it again with the same size and device re-enables
    /// stores after ``invalidateArea(_:)``.
    ///
    /// - Parameters:
    ///   - area: The area number.
    ///   - pages: Its slot count, at least 1.
    ///   - device: The backing device, with at least `pages` slots.
    /// - Throws: ``FrontswapError`` if the area number is out of range, the area exists with another size
    ///   or device, the device is too small, or the backend cannot create a pool.
    public func initArea(_ area: SwapArea, pages: Int, device: any BackingDevice) throws(FrontswapError) {
        guard (0..<configuration.maxAreas).contains(area.rawValue) else {
            throw .areaOutOfRange(area, max: configuration.maxAreas)
        }
        let state: Area = try creation.withLock { _ throws(FrontswapError) -> Area in
            if let existing = areas[area.rawValue] { return existing }
            try checkNewArea(area, pages: pages)
            guard device.slotCount >= pages else {
                throw .deviceTooSmall(area, slots: device.slotCount, pages: pages)
            }
            let pool: PoolID
            do throws(TmemError) { pool = try backend.createPool(.persistent) } catch {
                throw .poolCreation(error, area)
            }
            let created = Area(id: area, pages: pages, pool: pool, device: device)
            areas.publish(created, at: area.rawValue)
            return created
        }
        guard state.pages == pages else { throw .sizeMismatch(area, has: state.pages, asked: pages) }
        guard state.device === device else { throw .deviceMismatch(area) }
        state.control.withLock { _ in state.enabled.store(true, ordering: .releasing) }
    }

    /// Checks that an area number and size could make a new area, before its backing device is made:
    /// the same checks ``initArea(_:pages:device:)`` applies to an area it has not seen.
    ///
    /// - Throws: ``FrontswapError`` if the area number is out of range or the size is not 1...2^32-1.
    public func checkNewArea(_ area: SwapArea, pages: Int) throws(FrontswapError) {
        guard (0..<configuration.maxAreas).contains(area.rawValue) else {
            throw .areaOutOfRange(area, max: configuration.maxAreas)
        }
        guard pages > 0, pages <= Int(UInt32.max) else { throw .invalidSize(area, pages: pages) }
    }

    /// Whether transcendent memory holds a slot's page (mirrors `frontswap_test`).
    ///
    /// - Returns: false for unknown areas and offsets out of range.
    public func isHeld(_ area: SwapArea, offset: PageOffset) -> Bool {
        guard let state = try? self.area(area, offset) else { return false }
        return state.tmemMap[offset.rawValue]
    }

    /// The slot count of an initialised area, or nil.
    public func pages(of area: SwapArea) -> Int? {
        guard (0..<configuration.maxAreas).contains(area.rawValue) else { return nil }
        return areas[area.rawValue]?.pages
    }

    /// Pages held in transcendent memory now, over all areas (mirrors `frontswap_curr_pages`).
    ///
    /// - Complexity: O(areas × stripes); a snapshot, not one instant.
    public var currPages: Int { counters.currPages }

    /// Every counter, summed over all areas.
    ///
    /// - Complexity: O(areas × stripes); each stripe is read under its lock.
    public var counters: FrontswapCounters {
        var total = FrontswapCounters()
        for i in 0..<configuration.maxAreas { if let area = areas[i] { total.add(area.counters) } }
        return total
    }

    /// One area's counters.
    ///
    /// - Throws: ``FrontswapError`` for an unknown area.
    public func counters(of area: SwapArea) throws(FrontswapError) -> FrontswapCounters {
        try self.area(area).counters
    }

    /// The area whose pool is `pool`, if any.
    func area(of pool: PoolID) -> Area? {
        for i in 0..<configuration.maxAreas {
            if let area = areas[i], area.pool == pool { return area }
        }
        return nil
    }

    /// Looks up an initialised area, and checks an offset against it.
    func area(_ area: SwapArea, _ offset: PageOffset? = nil) throws(FrontswapError) -> Area {
        guard (0..<configuration.maxAreas).contains(area.rawValue) else {
            throw .areaOutOfRange(area, max: configuration.maxAreas)
        }
        guard let state = areas[area.rawValue] else { throw .unknownArea(area) }
        if let offset, !(0..<state.pages).contains(offset.rawValue) {
            throw .offsetOutOfRange(offset, area, pages: state.pages)
        }
        return state
    }
}

/// The area of each area number, set once and then read without a lock on every store and load.
final class AreaTable: @unchecked Sendable {
    // @unchecked: each entry is an Atomic, written once (under Frontswap.creation) with release ordering
    // and read with acquire ordering; the retained Area is released in deinit, when no reader remains.
    private let entries: UnsafeMutablePointer<Atomic<Unmanaged<Area>?>>
    private let count: Int

    init(count: Int) {
        self.count = count
        entries = .allocate(capacity: count)
        for i in 0..<count { (entries + i).initialize(to: Atomic(nil)) }
    }

    deinit {
        for i in 0..<count { entries[i].load(ordering: .acquiring)?.release() }
        _ = entries.deinitialize(count: count)
        entries.deallocate()
    }

    subscript(i: Int) -> Area? {
        entries[i].load(ordering: .acquiring)?.takeUnretainedValue()
    }

    func publish(_ area: Area, at i: Int) {
        entries[i].store(Unmanaged.passRetained(area), ordering: .releasing)
    }
}
