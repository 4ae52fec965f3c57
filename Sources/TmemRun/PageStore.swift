#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Tmem
import TmemFrontswap
import TmemSwapFile

/// Where `tmem run` keeps evicted pages: one frontswap area over a swap file with no name on disk, behind
/// a backend (Zcache or a RAM pool), so a page goes to compressed RAM first and to the file when the
/// backend refuses it or its reclaimer repatriates it.
///
/// Slots are reference-counted: after a fork, parent and child share the pages stored before it (a stored
/// page never changes; a new eviction takes a new slot). Thread-safe.
final class PageStore: Sendable {
    private let frontswap: Frontswap
    private let reclaimer: Reclaimer
    private let area = SwapArea(0)
    let slotCount: Int
    private let slots: Mutex<SlotTable>

    private struct SlotTable {
        var references: [UInt16]
        var free: [Int] = []
        var next = 0
        var inUse = 0
    }

    /// Opens the store.
    ///
    /// - Parameters:
    ///   - backend: The transcendent memory in front of the file.
    ///   - slots: The swap file's size in pages (sparse: only stored pages take disk blocks).
    ///   - swapFile: The swap file's path, or nil for an unnamed file in `directory` (default $TMPDIR or /tmp).
    /// - Throws: ``RunError`` when the file cannot be made or the area set up.
    init(backend: any Backend, slots: Int, swapFile: String?, directory: String?) throws(RunError) {
        let device: SwapFile
        do {
            if let swapFile {
                device = try SwapFile(path: swapFile, slots: slots, options: .init())
            } else {
                device = try SwapFile.temporary(in: directory, slots: slots)
            }
        } catch {
            throw .setup("cannot make the swap file: \(error.message)")
        }
        reclaimer = Reclaimer(backend: backend)
        do throws(TmemError) { try reclaimer.start() } catch {
            throw .setup("cannot start the store's reclaimer: \(error.message)")
        }
        frontswap = Frontswap(backend: backend, configuration: .init(maxAreas: 1), reclaimer: reclaimer)
        do {
            try frontswap.initArea(area, pages: slots, device: device)
        } catch {
            reclaimer.stop()
            throw .setup("cannot set up the store's frontswap area: \(error.message)")
        }
        slotCount = slots
        self.slots = Mutex(SlotTable(references: [UInt16](repeating: 0, count: slots)))
    }

    /// Stores a page in a new slot.
    ///
    /// - Returns: The slot (holding one reference), or nil when no slot is free or the device failed.
    func store(_ page: UnsafeRawBufferPointer) -> (slot: Int?, onDisk: Bool, error: String?) {
        let slot = slots.withLock { table -> Int? in
            let slot: Int
            if let reused = table.free.popLast() {
                slot = reused
            } else if table.next < table.references.count {
                slot = table.next
                table.next += 1
            } else {
                return nil
            }
            table.references[slot] = 1
            table.inUse += 1
            return slot
        }
        guard let slot else { return (nil, false, "the swap file is full (\(slotCount) pages)") }
        do {
            let result = try frontswap.store(area, offset: PageOffset(slot), page: page)
            if case .tmem = result { return (slot, false, nil) }
            return (slot, true, nil)
        } catch {
            freeSlot(slot)
            return (nil, false, error.message)
        }
    }

    /// Copies a stored page into `page`.
    ///
    /// - Returns: Whether it came from the swap file; throws when it cannot be brought back.
    func load(_ slot: Int, into page: UnsafeMutableRawBufferPointer) throws(RunError) -> Bool {
        let result: LoadResult
        do {
            result = try frontswap.load(area, offset: PageOffset(slot), into: page)
        } catch {
            throw .lost("slot \(slot): \(error.message)")
        }
        switch result {
        case .tmem: return false
        case .disk: return true
        case .notStored: throw .lost("slot \(slot) holds no page")
        }
    }

    /// Adds a reference to each slot (a fork's child shares them).
    func retain(_ shared: [Int]) {
        guard !shared.isEmpty else { return }
        slots.withLock { table in
            for slot in shared {
                precondition(table.references[slot] > 0 && table.references[slot] < .max, "retain of a free slot")
                table.references[slot] += 1
            }
        }
    }

    /// Drops a reference to each slot; a slot left without one is emptied and reused.
    func release(_ released: [Int]) {
        for slot in released { release(slot) }
    }

    /// Drops one reference.
    func release(_ slot: Int) {
        let last = slots.withLock { table -> Bool in
            precondition(table.references[slot] > 0, "release of a free slot")
            table.references[slot] -= 1
            return table.references[slot] == 0
        }
        if last { freeSlot(slot) }
    }

    /// Slots holding a page.
    var slotsInUse: Int { slots.withLock { $0.inUse } }

    /// The frontswap counters (disk loads, repatriated pages...).
    var counters: FrontswapCounters { frontswap.counters }

    /// Stops the reclaimer and empties the area (the file, unnamed, goes with its descriptor).
    func close() {
        reclaimer.stop()
        _ = try? frontswap.invalidateArea(area)
    }

    private func freeSlot(_ slot: Int) {
        _ = try? frontswap.invalidatePage(area, offset: PageOffset(slot))
        slots.withLock { table in
            table.references[slot] = 0
            table.free.append(slot)
            table.inUse -= 1
        }
    }
}

/// Why `tmem run` cannot go on.
public enum RunError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Setting up the store, the socket or the program failed.
    case setup(String)
    /// A stored page cannot be brought back.
    case lost(String)
    /// The arguments make no sense.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .setup(let message), .invalidArgument(let message): message
        case .lost(let message): "a page cannot be brought back: \(message)"
        }
    }
}
