import Tmem

// The six operations one at a time: round trips, overwrites, refusals, accounting, destroyed pools.
extension BackendContract {
    /// Round trips of every page kind in a persistent pool: a put of a fresh key on an empty backend with
    /// room is stored, gets return exactly its bytes, an overwrite (with a page of every other kind)
    /// replaces them, `flushPage` drops the page (true once, then false) and a flushed key misses;
    /// `flushObject` drops an object's pages and only them. The suite assumes an empty backend with room
    /// accepts every kind (a backend configured to refuse poorly compressing pages does not pass).
    ///
    /// - Returns: The violations seen.
    public func checkRoundTrips() throws -> [String] {
        var v = Violations("\(name) round trips")
        let backend = try make(4 << 20)
        let pool = try backend.createPool(.persistent)
        let pages = PageFactory(seed: seed)
        var version: UInt64 = 0
        for (k, kind) in PageKind.allCases.enumerated() {
            let key = Key(pool, 1, k)
            version += 1
            let bytes = pages.page(kind, tag: UInt64(k), version: version)
            let result = backend.put(key, bytes)
            v.check(result == .stored, "a \(kind) page put on an empty backend was \(result)")
            guard result == .stored else { continue }
            let got = backend.fetch(key)
            v.check(got == .success(bytes), "a \(kind) page came back as \(describe(got))")
            for other in PageKind.allCases {
                version += 1
                let replacement = pages.page(other, tag: UInt64(k), version: version)
                let again = backend.put(key, replacement)
                let after = backend.fetch(key)
                switch again {
                case .stored:
                    v.check(
                        after == .success(replacement),
                        "a \(other) page put over a \(kind) page came back as \(describe(after))")
                case .refused(let reason):
                    v.add("a \(other) page put over a \(kind) page was refused (\(reason)) with room to spare")
                    v.check(after == .success(nil), "a refused put left \(describe(after)) under its key")
                }
            }
            v.check(backend.flushPage(key), "flushPage of a held \(kind) key said it held nothing")
            v.check(!backend.flushPage(key), "a second flushPage of a \(kind) key said it held the page")
            let gone = backend.fetch(key)
            v.check(gone == .success(nil), "a flushed key returned \(describe(gone))")
        }
        // flushObject drops one object's pages, all of them, and nothing else.
        for i in 0..<40 { _ = backend.put(Key(pool, UInt64(2 + i % 2), i), pages.page(.textLike, tag: 9, version: UInt64(i))) }
        let dropped = backend.flushObject(pool: pool, object: ObjectID(rawValue: 3))
        v.check(dropped == 20, "flushObject of an object of 20 pages dropped \(dropped)")
        for i in 0..<40 {
            let got = backend.fetch(Key(pool, UInt64(2 + i % 2), i))
            if i % 2 == 1 {
                v.check(got == .success(nil), "a page of a flushed object returned \(describe(got))")
            } else {
                let expected = pages.page(.textLike, tag: 9, version: UInt64(i))
                v.check(got == .success(expected), "a page of the other object returned \(describe(got))")
            }
        }
        v.check(backend.flushObject(pool: pool, object: ObjectID(rawValue: 3)) == 0, "a second flushObject dropped pages")
        v.check(backend.flushObject(pool: pool, object: ObjectID(rawValue: 2)) == 20, "flushObject missed pages")
        let usage = backend.usage(of: pool)
        v.check(usage == PoolUsage(), "after every page was flushed the pool's usage is \(String(describing: usage))")
        // A refused put leaves nothing under its key: at capacity 0 a put over a held key either
        // replaces it or drops it, and a new key is refused.
        let held = Key(pool, 4, 0)
        let first = pages.page(.textLike, tag: 4, version: 1)
        let second = pages.page(.random, tag: 4, version: 2)
        v.check(backend.put(held, first) == .stored, "a put on an empty backend was refused")
        if (try? backend.setCapacity(0)) != nil {
            let over = backend.put(held, second)
            let after = backend.fetch(held)
            if over == .stored {
                v.check(after == .success(second), "a put accepted at capacity 0 came back as \(describe(after))")
            } else {
                v.check(after == .success(nil), "a put refused (\(over)) over a held key left \(describe(after))")
            }
            let fresh = backend.put(Key(pool, 4, 1), second)
            v.check(fresh != .stored, "a new key was stored at capacity 0")
            let freshGet = backend.fetch(Key(pool, 4, 1))
            v.check(freshGet == .success(nil), "a refused new key returned \(describe(freshGet))")
        }
        return v.list
    }

    /// Accounting: ``Backend/usage(of:)`` counts the pages a pool holds and their original bytes, the
    /// stored-bytes deltas of ``Backend/putCharged(_:page:)`` add up to its `storedBytes` after every put
    /// (new keys, overwrites across page kinds), pools are counted apart, and usage returns to zero once
    /// every page is flushed.
    ///
    /// - Returns: The violations seen.
    public func checkAccounting() throws -> [String] {
        var v = Violations("\(name) accounting")
        var rng = generator("accounting")
        let pages = PageFactory(seed: seed)
        let backend = try make(16 << 20)
        let pool = try backend.createPool(.persistent)
        let other = try backend.createPool(.persistent)
        v.check(backend.usage(of: pool) == PoolUsage(), "a new pool's usage is \(String(describing: backend.usage(of: pool)))")
        for i in 0..<16 { _ = backend.put(Key(other, 0, i), pages.page(.textLike, tag: 99, version: UInt64(i))) }
        let otherUsage = backend.usage(of: other)
        v.check(otherUsage?.pages == 16, "the second pool holds \(String(describing: otherUsage)) after 16 puts")
        var held = Set<Key>()
        var charged = 0
        for step in 0..<400 {
            let key = Key(pool, UInt64(rng.next() % 3), Int(rng.next() % 100))
            let kind = PageKind.allCases.randomElement(using: &rng)!
            let before = backend.usage(of: pool)?.storedBytes ?? 0
            let (result, delta) = backend.putCharged(key, pages.page(kind, tag: 1, version: UInt64(step)))
            let after = backend.usage(of: pool)?.storedBytes ?? 0
            if result == .stored { held.insert(key) } else { held.remove(key) }
            charged += delta
            v.check(
                after - before == delta,
                "putCharged of a \(kind) page (\(result)) said \(delta) stored bytes, usage changed by \(after - before)")
        }
        let usage = backend.usage(of: pool) ?? PoolUsage(pages: -1)
        v.check(usage.pages == held.count, "the pool holds \(held.count) pages, usage says \(usage.pages)")
        v.check(usage.originalBytes == held.count * pageSize, "original bytes \(usage.originalBytes) for \(held.count) pages")
        v.check(usage.storedBytes == charged, "stored bytes \(usage.storedBytes), putCharged deltas sum to \(charged)")
        v.check(usage.storedBytes >= 0 && usage.storedBytes <= held.count * pageSize, "stored bytes \(usage.storedBytes) for \(held.count) pages")
        v.check(backend.usage(of: other) == otherUsage, "puts to one pool changed another's usage")
        // Flush half page by page, the rest object by object.
        var flushedPages = 0
        for key in held where key.index.rawValue % 2 == 0 {
            v.check(backend.flushPage(key), "flushPage of a held key said it held nothing")
            flushedPages += 1
        }
        let mid = backend.usage(of: pool)?.pages ?? -1
        v.check(mid == held.count - flushedPages, "after flushing \(flushedPages) of \(held.count) pages, usage says \(mid)")
        var dropped = 0
        for object in 0..<3 { dropped += backend.flushObject(pool: pool, object: ObjectID(rawValue: UInt64(object))) }
        v.check(dropped == held.count - flushedPages, "flushObject dropped \(dropped) of \(held.count - flushedPages) pages")
        let empty = backend.usage(of: pool)
        v.check(empty == PoolUsage(), "after every page was flushed the usage is \(String(describing: empty))")
        v.check(backend.usage(of: other) == otherUsage, "flushes of one pool changed another's usage")
        return v.list
    }

    /// A destroyed pool is gone: its usage is nil, puts to it are refused with `.noSuchPool`, gets miss,
    /// flushes find nothing; destroying it again (or an id never made) does nothing to other pools; a
    /// new pool starts empty.
    ///
    /// - Returns: The violations seen.
    public func checkDestroyedPool() throws -> [String] {
        var v = Violations("\(name) destroyed pools")
        let pages = PageFactory(seed: seed)
        let backend = try make(4 << 20)
        for kind in PoolKind.allCases {
            let pool = try backend.createPool(kind)
            let bystander = try backend.createPool(.persistent)
            let keep = pages.page(.textLike, tag: 7, version: 7)
            v.check(backend.put(Key(bystander, 0, 0), keep) == .stored, "a put to a new pool was refused")
            for i in 0..<8 { _ = backend.put(Key(pool, UInt64(i % 2), i), pages.page(.numeric, tag: 1, version: UInt64(i))) }
            backend.destroyPool(pool)
            v.check(backend.usage(of: pool) == nil, "a destroyed \(kind) pool has usage \(String(describing: backend.usage(of: pool)))")
            let refused = backend.putCharged(Key(pool, 0, 0), pages.page(.textLike, tag: 1, version: 99))
            v.check(
                refused.result == .refused(.noSuchPool) && refused.storedBytesDelta == 0,
                "a put to a destroyed \(kind) pool was \(refused.result) (delta \(refused.storedBytesDelta))")
            for i in 0..<8 {
                let got = backend.fetch(Key(pool, UInt64(i % 2), i))
                v.check(got == .success(nil), "a get from a destroyed \(kind) pool returned \(describe(got))")
            }
            v.check(!backend.flushPage(Key(pool, 0, 0)), "flushPage found a page of a destroyed pool")
            v.check(backend.flushObject(pool: pool, object: ObjectID(rawValue: 1)) == 0, "flushObject found pages of a destroyed pool")
            backend.destroyPool(pool)
            backend.destroyPool(PoolID(rawValue: 0xDEAD_BEEF))
            let got = backend.fetch(Key(bystander, 0, 0))
            v.check(got == .success(keep), "destroying other pools changed a bystander's page to \(describe(got))")
            let fresh = try backend.createPool(kind)
            v.check(fresh != pool, "a new pool got the id of the pool just destroyed")
            v.check(backend.usage(of: fresh) == PoolUsage(), "a new pool's usage is \(String(describing: backend.usage(of: fresh)))")
            backend.destroyPool(fresh)
            backend.destroyPool(bystander)
        }
        return v.list
    }
}
