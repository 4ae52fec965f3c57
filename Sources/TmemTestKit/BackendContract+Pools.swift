import Tmem

// Pool ids over a long life, and batches.
extension BackendContract {
    /// Pool ids over many lifetimes: `cycles` rounds of create, put one page, destroy (three pools live
    /// at once, alternating kinds), more pools than Zcache has slots. Creation keeps working; live ids
    /// are unique; no id is handed out twice within the check (the contract: a stale id names no pool
    /// for a long while); a live pool's page is its own; and a destroyed pool's id names nothing (usage
    /// nil, put refused with `.noSuchPool`, get misses), checked when it dies, a few cycles later, and
    /// for a sample of ids, every 500 cycles until the end (after their slots were reused).
    ///
    /// - Parameter cycles: Create/destroy cycles.
    /// - Returns: The violations seen.
    public func checkPoolIDs(cycles: Int = 10_000) throws -> [String] {
        var v = Violations("\(name) pool ids")
        let pages = PageFactory(seed: seed)
        let backend = try make(4 << 20)
        var live: [(id: PoolID, cycle: Int)] = []
        var everHanded = Set<PoolID>()
        var recent: [(id: PoolID, checkAt: Int)] = []
        var sample: [PoolID] = []
        let key = { (pool: PoolID) in Key(pool, 0, 0) }
        func page(_ cycle: Int) -> [UInt8] { pages.page(.textLike, tag: 11, version: UInt64(truncatingIfNeeded: cycle)) }
        func checkStale(_ id: PoolID, _ when: String) {
            v.check(backend.usage(of: id) == nil, "the id of a destroyed pool has usage (\(when))")
            let got = backend.fetch(key(id))
            v.check(got == .success(nil), "a get under a destroyed pool's id returned \(describe(got)) (\(when))")
            let result = backend.put(Key(id, 1, 1), page(-1))
            v.check(result == .refused(.noSuchPool), "a put under a destroyed pool's id was \(result) (\(when))")
        }
        for cycle in 0..<cycles {
            let pool: PoolID
            do throws(TmemError) {
                pool = try backend.createPool(cycle % 2 == 0 ? .persistent : .ephemeral)
            } catch {
                v.add("cycle \(cycle), \(live.count) pools live: createPool threw \(error)")
                return v.list
            }
            v.check(!live.contains { $0.id == pool }, "cycle \(cycle): createPool returned the id of a live pool")
            v.check(everHanded.insert(pool).inserted, "cycle \(cycle): createPool handed out \(pool) a second time")
            v.check(backend.usage(of: pool) == PoolUsage(), "cycle \(cycle): a new pool is not empty")
            v.check(backend.fetch(key(pool)) == .success(nil), "cycle \(cycle): a new pool holds a page")
            let result = backend.put(key(pool), page(cycle))
            v.check(result == .stored, "cycle \(cycle): a put to a new pool was \(result)")
            live.append((pool, cycle))
            if live.count > 3 {
                let (old, born) = live.removeFirst()
                let got = backend.fetch(key(old))
                // Ephemeral pages may go, but never become another pool's page.
                let ephemeral = born % 2 == 1
                v.check(
                    got == .success(page(born)) || (ephemeral && got == .success(nil)),
                    "cycle \(cycle): the page of the pool made in cycle \(born) came back as \(describe(got))")
                backend.destroyPool(old)
                checkStale(old, "just destroyed")
                recent.append((old, cycle + 8))
                if cycle % 97 == 0 { sample.append(old) }
            }
            while let first = recent.first, first.checkAt <= cycle {
                checkStale(first.id, "8 cycles after")
                recent.removeFirst()
            }
            if cycle % 500 == 499 { for id in sample { checkStale(id, "cycle \(cycle)") } }
        }
        for id in sample { checkStale(id, "at the end") }
        for (id, _) in live { backend.destroyPool(id) }
        for (id, _) in live { checkStale(id, "destroyed at the end") }
        return v.list
    }

    /// Batches agree with single operations: one backend runs a random sequence of putBatch, getBatch and
    /// flushBatch, a twin of it the same operations one key at a time, and every result, every byte
    /// returned and the pools' usage agree; a hit returns exactly the last stored bytes; a batch to a
    /// destroyed pool is refused with `.noSuchPool` throughout.
    ///
    /// - Returns: The violations seen.
    public func checkBatches() throws -> [String] {
        var v = Violations("\(name) batches")
        var rng = generator("batches")
        let pages = PageFactory(seed: seed)
        let batched = try make(8 << 20)
        let single = try make(8 << 20)
        let pool = try batched.createPool(.persistent)
        let twinPool = try single.createPool(.persistent)
        var model: [Int: [UInt8]] = [:]
        func keys(_ indexes: [Int], _ pool: PoolID) -> [Key] { indexes.map { Key(pool, UInt64($0 / 64), $0) } }
        for round in 0..<30 {
            // Distinct indexes: a batch must not name one key twice.
            var chosen = Set<Int>()
            let count = 1 + Int(rng.next() % 24)
            while chosen.count < count { chosen.insert(Int(rng.next() % 200)) }
            let indexes = Array(chosen)
            let batchKeys = keys(indexes, pool)
            let twinKeys = keys(indexes, twinPool)
            switch rng.next() % 3 {
            case 0:
                let bytes = indexes.map { pages.page(PageKind.allCases.randomElement(using: &rng)!, tag: UInt64($0), version: UInt64(round)) }
                let results = putBatch(batched, batchKeys, bytes)
                for (i, index) in indexes.enumerated() {
                    let one = single.put(twinKeys[i], bytes[i])
                    v.check(results[i] == one, "round \(round): putBatch said \(results[i]), a single put \(one)")
                    model[index] = results[i] == .stored ? bytes[i] : nil
                }
            case 1:
                let (results, bytes) = getBatch(batched, batchKeys)
                for (i, index) in indexes.enumerated() {
                    let one = single.fetch(twinKeys[i])
                    switch (results[i], one) {
                    case (.hit, .success(let got?)):
                        v.check(bytes[i] == got, "round \(round): getBatch and a single get returned different bytes")
                        v.check(bytes[i] == model[index], "round \(round): getBatch returned \(summary(bytes[i])), expected \(summary(model[index]))")
                    case (.miss, .success(nil)):
                        v.check(model[index] == nil, "round \(round): getBatch missed a stored key")
                    default:
                        v.add("round \(round): getBatch said \(results[i]), a single get \(describe(one))")
                    }
                }
            default:
                let held = batchKeys.withUnsafeBufferPointer { batched.flushBatch($0) }
                var singleHeld = 0
                for key in twinKeys where single.flushPage(key) { singleHeld += 1 }
                let inModel = indexes.filter { model[$0] != nil }.count
                v.check(held == singleHeld && held == inModel, "round \(round): flushBatch dropped \(held), single flushes \(singleHeld), the model holds \(inModel)")
                for index in indexes { model[index] = nil }
            }
            let a = batched.usage(of: pool), b = single.usage(of: twinPool)
            v.check(a == b, "round \(round): usage \(String(describing: a)) through batches, \(String(describing: b)) one by one")
            v.check(a?.pages == model.count, "round \(round): usage counts \(String(describing: a?.pages)) pages, the model \(model.count)")
        }
        batched.destroyPool(pool)
        let indexes = Array(0..<8)
        let results = putBatch(batched, keys(indexes, pool), indexes.map { pages.page(.textLike, tag: 1, version: UInt64($0)) })
        v.check(results.allSatisfy { $0 == .refused(.noSuchPool) }, "putBatch to a destroyed pool said \(results)")
        let (gets, _) = getBatch(batched, keys(indexes, pool))
        v.check(gets.allSatisfy { $0 == .miss }, "getBatch from a destroyed pool said \(gets)")
        return v.list
    }

    private func putBatch(_ backend: any Backend, _ keys: [Key], _ bytes: [[UInt8]]) -> [PutResult] {
        var results = [PutResult](repeating: .refused(.policy), count: keys.count)
        let buffers = bytes.map { source -> UnsafeMutableRawPointer in
            let p = UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: 16)
            source.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: pageSize) }
            return p
        }
        defer { for p in buffers { p.deallocate() } }
        let pointers = buffers.map { UnsafeRawPointer($0) }
        keys.withUnsafeBufferPointer { k in
            pointers.withUnsafeBufferPointer { p in
                results.withUnsafeMutableBufferPointer { r in backend.putBatch(k, pages: p, results: r) }
            }
        }
        return results
    }

    private func getBatch(_ backend: any Backend, _ keys: [Key]) -> ([GetResult], [[UInt8]]) {
        var results = [GetResult](repeating: .miss, count: keys.count)
        let buffers = keys.map { _ in UnsafeMutableRawPointer.allocate(byteCount: pageSize, alignment: 16) }
        defer { for p in buffers { p.deallocate() } }
        keys.withUnsafeBufferPointer { k in
            buffers.withUnsafeBufferPointer { p in
                results.withUnsafeMutableBufferPointer { r in backend.getBatch(k, into: p, results: r) }
            }
        }
        let bytes = buffers.map { [UInt8](UnsafeRawBufferPointer(start: $0, count: pageSize)) }
        return (results, bytes)
    }
}
