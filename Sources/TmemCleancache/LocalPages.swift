#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Tmem

/// One page held by a ``CachedFile`` in its own memory: page-aligned (as `O_DIRECT` wants), with the
/// cleancache token taken before it was read.
final class LocalPage: @unchecked Sendable {
    let index: Int
    let token: CleancacheToken
    let bytes: UnsafeMutableRawBufferPointer
    /// Whether cleancache still holds these bytes (an inclusive hit): then the page is not offered
    /// again when it leaves. Set before the page is shared, under the file's mutex after.
    var inCleancache = false

    init(index: Int, token: CleancacheToken) {
        self.index = index
        self.token = token
        bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: pageSize)
    }

    deinit { bytes.deallocate() }
}

/// The in-process page cache of a ``CachedFile``: up to `capacity` pages, the victim chosen by CLOCK
/// (a page used since the hand last passed gets another round). Under the file's mutex.
struct LocalPages {
    let capacity: Int
    private var slots: [LocalPage?] = []
    private var referenced: [Bool] = []
    private var slotOf: [Int: Int] = [:]
    private var hand = 0
    /// Bumped by every removal: a page read while it moved is not inserted (it may predate a write).
    private(set) var generation: UInt64 = 0

    init(capacity: Int) { self.capacity = capacity }

    /// Runs `body` on page `index` if it is here (marking it used).
    mutating func use(_ index: Int, _ body: (UnsafeRawBufferPointer) -> Void) -> Bool {
        guard let slot = slotOf[index], let page = slots[slot] else { return false }
        referenced[slot] = true
        body(UnsafeRawBufferPointer(page.bytes))
        return true
    }

    /// Adds a page read when ``generation`` was `since`, unless a removal came in between or the page
    /// is already here (another thread read it too).
    ///
    /// - Returns: The page evicted to make room, for the caller to offer to cleancache.
    mutating func insert(_ page: LocalPage, readAt since: UInt64) -> LocalPage? {
        guard since == generation, slotOf[page.index] == nil else { return nil }
        if slots.count < capacity {
            slotOf[page.index] = slots.count
            slots.append(page)
            referenced.append(false)
            return nil
        }
        while true {
            if let current = slots[hand], referenced[hand] {
                _ = current
                referenced[hand] = false
                hand = (hand + 1) % slots.count
                continue
            }
            let victim = slots[hand]
            if let victim { slotOf[victim.index] = nil }
            slots[hand] = page
            referenced[hand] = false
            slotOf[page.index] = hand
            hand = (hand + 1) % slots.count
            return victim
        }
    }

    /// Drops page `index` (it is about to change).
    mutating func remove(_ index: Int) {
        generation &+= 1
        guard let slot = slotOf.removeValue(forKey: index) else { return }
        slots[slot] = nil
        referenced[slot] = false
    }

    /// Drops every page, returning them.
    mutating func drain() -> [LocalPage] {
        generation &+= 1
        let pages = slots.compactMap { $0 }
        slots.removeAll()
        referenced.removeAll()
        slotOf.removeAll()
        hand = 0
        return pages
    }
}
