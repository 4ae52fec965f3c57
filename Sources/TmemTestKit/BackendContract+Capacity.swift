import Tmem

// Capacity: ephemeral pages are dropped before a put is refused, persistent pages never are, and the
// capacity changes while running.
extension BackendContract {
    /// Capacity of the backends these checks make: 64 pages.
    static let smallCapacity = 64 * pageSize

    /// Ephemeral pages go first: a small backend filled (twice over) with incompressible ephemeral pages,
    /// one per 64 indexes (so that a backend that drops neighbouring pages together drops one at a time),
    /// still accepts persistent puts for half its capacity, by dropping ephemeral ones: all of them with
    /// ``Accounting/exactPages``, at least half otherwise. When the pages stored could not all fit
    /// (ephemeral held + persistent stored > capacity, every page costing at least its 4096 bytes), the
    /// ephemeral pool must hold fewer pages and `evicted_pages` (which the backend must have) must have
    /// grown. Every persistent page stored reads back exactly; every ephemeral get misses or returns
    /// exactly its page.
    ///
    /// - Returns: The violations seen.
    public func checkEphemeralPagesGoFirst() throws -> [String] {
        var v = Violations("\(name) ephemeral pages go first")
        let pages = PageFactory(seed: seed)
        let backend = try make(Self.smallCapacity)
        let ephemeral = try backend.createPool(.ephemeral)
        let persistent = try backend.createPool(.persistent)
        let capacityPages = Self.smallCapacity / pageSize
        func ephemeralKey(_ i: Int) -> Key { Key(ephemeral, UInt64(i % 4), i * 64) }
        func ephemeralPage(_ i: Int) -> [UInt8] { pages.page(.random, tag: 1, version: UInt64(i)) }
        func persistentPage(_ i: Int) -> [UInt8] { pages.page(.random, tag: 2, version: UInt64(i)) }
        for i in 0..<2 * capacityPages { _ = backend.put(ephemeralKey(i), ephemeralPage(i)) }
        let ephemeralBefore = backend.usage(of: ephemeral)?.pages ?? 0
        v.check(
            ephemeralBefore >= capacityPages / 2,
            "a backend of \(capacityPages) pages holds \(ephemeralBefore) after \(2 * capacityPages) ephemeral puts")
        guard let evictedBefore = backend.statistic("evicted_pages") else {
            v.add("the backend has no evicted_pages counter")
            return v.list
        }
        let wanted = capacityPages / 2
        var stored: [Int] = []
        for i in 0..<wanted {
            let result = backend.put(Key(persistent, 0, i), persistentPage(i))
            if result == .stored { stored.append(i) } else if accounting == .exactPages {
                v.add("persistent put \(i) of \(wanted) was refused (\(result)) while ephemeral pages could be dropped")
            }
        }
        v.check(stored.count * 2 >= wanted, "only \(stored.count) of \(wanted) persistent puts were accepted over ephemeral pages")
        let ephemeralAfter = backend.usage(of: ephemeral)?.pages ?? 0
        let evictedAfter = backend.statistic("evicted_pages") ?? evictedBefore
        if ephemeralBefore + stored.count > capacityPages {
            v.check(
                ephemeralAfter < ephemeralBefore,
                "\(stored.count) persistent pages were stored beside \(ephemeralBefore) ephemeral ones in \(capacityPages) pages' room")
            v.check(evictedAfter > evictedBefore, "evicted_pages stayed at \(evictedBefore) while persistent puts took the ephemeral pages' room")
        }
        for i in stored {
            let got = backend.fetch(Key(persistent, 0, i))
            v.check(got == .success(persistentPage(i)), "persistent page \(i) came back as \(describe(got))")
        }
        for i in 0..<2 * capacityPages {
            let got = backend.fetch(ephemeralKey(i))
            v.check(got == .success(nil) || got == .success(ephemeralPage(i)), "ephemeral page \(i) came back as \(describe(got))")
        }
        for object in 0..<4 { backend.flushObject(pool: ephemeral, object: ObjectID(rawValue: UInt64(object))) }
        backend.flushObject(pool: persistent, object: ObjectID(rawValue: 0))
        for pool in [ephemeral, persistent] {
            let usage = backend.usage(of: pool)
            v.check(usage == PoolUsage(), "after flushing everything the usage is \(String(describing: usage))")
        }
        return v.list
    }

    /// Persistent pages stay: a small backend filled with incompressible persistent pages until a put is
    /// refused then refuses further persistent and ephemeral puts (it may take a few more that still fit,
    /// never more incompressible pages than its capacity holds; with ``Accounting/exactPages``, none and
    /// exactly its capacity), and every persistent page still reads back exactly.
    ///
    /// - Returns: The violations seen.
    public func checkPersistentPagesStay() throws -> [String] {
        var v = Violations("\(name) persistent pages stay")
        let pages = PageFactory(seed: seed)
        let backend = try make(Self.smallCapacity)
        let persistent = try backend.createPool(.persistent)
        let ephemeral = try backend.createPool(.ephemeral)
        let capacityPages = Self.smallCapacity / pageSize
        func persistentPage(_ i: Int) -> [UInt8] { pages.page(.random, tag: 3, version: UInt64(i)) }
        var held: [Int] = []
        var next = 0
        var firstRefusal: PutResult?
        while next < 4 * capacityPages {
            let result = backend.put(Key(persistent, UInt64(next / 64), next), persistentPage(next))
            next += 1
            if result == .stored { held.append(next - 1) } else {
                firstRefusal = result
                break
            }
        }
        guard let firstRefusal else {
            v.add("\(next) incompressible persistent pages fit in a capacity of \(capacityPages) pages")
            return v.list
        }
        v.check(firstRefusal == .refused(.capacity), "the first refusal of a full backend was \(firstRefusal), not for capacity")
        if accounting == .exactPages {
            v.check(held.count == capacityPages, "a backend of \(capacityPages) pages was full after \(held.count)")
        }
        // Probe: more persistent pages, and ephemeral ones, which have nothing of their own to drop.
        var accepted = 0
        for i in 0..<32 {
            let key = Key(persistent, 99, i)
            if backend.put(key, persistentPage(10_000 + i)) == .stored {
                accepted += 1
                held.append(-1 - i)
            }
            if backend.put(Key(ephemeral, 0, i), pages.page(.random, tag: 4, version: UInt64(i))) == .stored {
                accepted += 1
            }
        }
        if accounting == .exactPages { v.check(accepted == 0, "a full backend accepted \(accepted) more puts") }
        let total = (backend.usage(of: persistent)?.pages ?? 0) + (backend.usage(of: ephemeral)?.pages ?? 0)
        v.check(
            total * pageSize <= Self.smallCapacity,
            "the backend holds \(total) incompressible pages in a capacity of \(capacityPages)")
        for i in held {
            let key = i >= 0 ? Key(persistent, UInt64(i / 64), i) : Key(persistent, 99, -1 - i)
            let expected = persistentPage(i >= 0 ? i : 10_000 + (-1 - i))
            let got = backend.fetch(key)
            v.check(got == .success(expected), "persistent page \(key) came back as \(describe(got)) from a full backend")
        }
        let usage = backend.usage(of: persistent)
        v.check(usage?.pages == held.count, "the persistent pool holds \(held.count) pages, usage says \(String(describing: usage))")
        for object in [0, 1, 2, 3, 99] { backend.flushObject(pool: persistent, object: ObjectID(rawValue: UInt64(object))) }
        backend.flushObject(pool: ephemeral, object: ObjectID(rawValue: 0))
        for pool in [persistent, ephemeral] {
            let usage = backend.usage(of: pool)
            v.check(usage == PoolUsage(), "after flushing everything the usage is \(String(describing: usage))")
        }
        return v.list
    }

    /// The capacity changes while running: a negative one is an invalid argument; lowering it drops
    /// ephemeral pages (all of them at 0) and never a persistent one, whose bytes all read back; at 0 a
    /// new key is refused; raised again, puts are accepted again; flushing everything brings usage to 0.
    /// A backend whose capacity is not its own to set (it throws for every value) passes trivially.
    ///
    /// - Returns: The violations seen.
    public func checkCapacityChanges() throws -> [String] {
        var v = Violations("\(name) capacity changes")
        let pages = PageFactory(seed: seed)
        let roomy = 1 << 20
        let backend = try make(roomy)
        do throws(TmemError) {
            try backend.setCapacity(-1)
            v.add("setCapacity(-1) did not throw")
        } catch {
            v.check(error.isInvalidArgument, "setCapacity(-1) threw \(error), not an invalid argument")
        }
        v.check(backend.capacity == roomy, "the capacity is \(backend.capacity) after a refused change, not \(roomy)")
        let persistent = try backend.createPool(.persistent)
        let ephemeral = try backend.createPool(.ephemeral)
        func persistentPage(_ i: Int) -> [UInt8] { pages.page(.textLike, tag: 5, version: UInt64(i)) }
        for i in 0..<40 {
            v.check(backend.put(Key(persistent, 0, i), persistentPage(i)) == .stored, "persistent put \(i) was refused with room")
        }
        for i in 0..<80 { _ = backend.put(Key(ephemeral, UInt64(i / 8), i), pages.page(.random, tag: 6, version: UInt64(i))) }
        let ephemeralBefore = backend.usage(of: ephemeral)?.pages ?? 0
        v.check(ephemeralBefore > 40, "only \(ephemeralBefore) of 80 ephemeral puts were held with room")
        let lower = Self.smallCapacity
        guard (try? backend.setCapacity(lower)) != nil else { return v.list }
        v.check(backend.capacity == lower, "the capacity is \(backend.capacity) after setCapacity(\(lower))")
        let ephemeralLow = backend.usage(of: ephemeral)?.pages ?? 0
        v.check(ephemeralLow < ephemeralBefore, "lowering the capacity below what was held dropped no ephemeral page")
        if accounting == .exactPages {
            let total = 40 + ephemeralLow
            v.check(total * pageSize <= lower, "\(total) pages are held in a capacity of \(lower / pageSize) pages")
        }
        try backend.setCapacity(0)
        let ephemeralZero = backend.usage(of: ephemeral)?.pages ?? 0
        v.check(ephemeralZero == 0, "\(ephemeralZero) ephemeral pages are held at capacity 0")
        for i in 0..<40 {
            let got = backend.fetch(Key(persistent, 0, i))
            v.check(got == .success(persistentPage(i)), "persistent page \(i) came back as \(describe(got)) at capacity 0")
        }
        let refused = backend.put(Key(persistent, 1, 0), persistentPage(100))
        v.check(refused != .stored, "a new key was stored at capacity 0")
        try backend.setCapacity(roomy)
        let again = backend.put(Key(persistent, 1, 1), persistentPage(101))
        v.check(again == .stored, "a put was \(again) after the capacity was raised again")
        backend.flushObject(pool: persistent, object: ObjectID(rawValue: 0))
        backend.flushObject(pool: persistent, object: ObjectID(rawValue: 1))
        for object in 0..<10 { backend.flushObject(pool: ephemeral, object: ObjectID(rawValue: UInt64(object))) }
        for pool in [persistent, ephemeral] {
            let usage = backend.usage(of: pool)
            v.check(usage == PoolUsage(), "after flushing everything the usage is \(String(describing: usage))")
        }
        return v.list
    }
}
