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
/// page never changes; a new eviction takes a new slot). A slot can be *staged*: reserved and served from
/// the caller's buffer until ``commitStaged()`` compresses and stores it, so that an eviction batch is
/// committed to the page tables before its pages are compressed (off the processes' locks). Thread-safe.
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
        /// Staged slots: the address of their bytes until committed (addresses, so the table is Sendable).
        var staged: [Int: UInt] = [:]
        /// Pages the store refused for good (the swap file full or failing): kept here, uncompressed.
        var kept: [Int: UInt] = [:]
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

    /// Reserves a slot and serves it from `bytes` (4096 bytes that stay valid and unchanged until
    /// ``commitStaged()`` returns).
    ///
    /// - Returns: The slot (holding one reference), or nil when every slot is taken.
    func stage(_ bytes: UnsafeRawPointer) -> Int? {
        slots.withLock { table -> Int? in
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
            table.staged[slot] = UInt(bitPattern: bytes)
            return slot
        }
    }

    /// Compresses and stores every staged slot; slots released meanwhile are skipped and freed. A page the
    /// store refuses is kept uncompressed in the monitor's memory (nothing is lost).
    ///
    /// - Returns: Pages written to the swap file, and pages kept in memory because the store failed.
    func commitStaged() -> (onDisk: Int, kept: Int, firstError: String?) {
        let staged = slots.withLock { $0.staged }
        var onDisk = 0
        var kept = 0
        var firstError: String?
        for (slot, address) in staged {
            let bytes = UnsafeRawPointer(bitPattern: address)!
            let live = slots.withLock { $0.references[slot] > 0 }
            var stored = false
            if live {
                do {
                    if case .disk = try frontswap.store(area, offset: PageOffset(slot), page: UnsafeRawBufferPointer(start: bytes, count: 4096)) {
                        onDisk += 1
                    }
                    stored = true
                } catch {
                    firstError = firstError ?? error.message
                }
            }
            let free = slots.withLock { table -> Bool in
                table.staged[slot] = nil
                if table.references[slot] == 0 {
                    return true
                }
                if !stored {
                    let copy = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 4096)
                    copy.copyMemory(from: bytes, byteCount: 4096)
                    table.kept[slot] = UInt(bitPattern: copy)
                    kept += 1
                }
                return false
            }
            if free { freeSlot(slot) }
        }
        return (onDisk, kept, firstError)
    }

    /// Copies a stored page into `page`.
    ///
    /// - Returns: Whether it came from the swap file; throws when it cannot be brought back.
    func load(_ slot: Int, into page: UnsafeMutableRawBufferPointer) throws(RunError) -> Bool {
        let local = slots.withLock { table -> Bool in
            guard let address = table.staged[slot] ?? table.kept[slot] else { return false }
            page.baseAddress!.copyMemory(from: UnsafeRawPointer(bitPattern: address)!, byteCount: 4096)
            return true
        }
        if local { return false }
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
            // A staged slot is freed by commitStaged(), which may be storing it right now.
            return table.references[slot] == 0 && table.staged[slot] == nil
        }
        if last { freeSlot(slot) }
    }

    /// Slots holding a page.
    var slotsInUse: Int { slots.withLock { $0.inUse } }

    /// The frontswap counters (disk loads, repatriated pages...).
    var counters: FrontswapCounters { frontswap.counters }

    /// Pages kept uncompressed because the store refused them.
    var keptPages: Int { slots.withLock { $0.kept.count } }

    /// Stops the reclaimer and empties the area (the file, unnamed, goes with its descriptor).
    func close() {
        slots.withLock { table in
            for (_, address) in table.kept { UnsafeMutableRawPointer(bitPattern: address)!.deallocate() }
            table.kept = [:]
        }
        reclaimer.stop()
        _ = try? frontswap.invalidateArea(area)
    }

    private func freeSlot(_ slot: Int) {
        _ = try? frontswap.invalidatePage(area, offset: PageOffset(slot))
        slots.withLock { table in
            if let address = table.kept.removeValue(forKey: slot) { UnsafeMutableRawPointer(bitPattern: address)!.deallocate() }
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
