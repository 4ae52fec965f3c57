import Tmem

// A seeded random sequence of operations against a model of what each key may return.
extension BackendContract {
    /// What a get of one key may return.
    private struct Expectation {
        /// The bytes of the last put or nil after a flush (or a refused put).
        var last: [UInt8]?
        /// Ephemeral only: false after a get missed (get-get: no hit until a new put).
        var mayHit = true
    }

    /// Runs `steps` random puts, gets, flushPage and flushObject on one persistent and one ephemeral pool
    /// of a backend small enough to drop ephemeral pages and refuse puts, against a model:
    /// - persistent: a get hits exactly when the last put was stored and not flushed, and returns exactly
    ///   its bytes; flushPage and flushObject report exactly what was held;
    /// - ephemeral: a get misses or returns the last put's bytes, never older (put-put-get); after a miss
    ///   no get hits until a new put (get-get); after flushPage, flushObject or a refused put no get
    ///   returns the older bytes; flushes never report a page that cannot be held;
    /// - afterwards the persistent pool's usage counts its model's pages, and flushing every object
    ///   brings both pools' usage to zero.
    ///
    /// - Parameter steps: Operations to run (thousands for a test).
    /// - Returns: The violations seen.
    public func checkAgainstModel(steps: Int = 4000) throws -> [String] {
        var v = Violations("\(name) model")
        var rng = generator("model")
        let pages = PageFactory(seed: seed)
        // Room for about 100 pages: enough that persistent puts mostly succeed, too little for both
        // pools' 288 keys, so ephemeral pages get dropped and some puts are refused.
        let backend = try make(100 * pageSize)
        let pools = [try backend.createPool(.persistent), try backend.createPool(.ephemeral)]
        let objects: UInt64 = 3
        let indexes = 48
        var model: [Key: Expectation] = [:]
        var stored = 0, refused = 0, hits = 0, misses = 0
        for step in 0..<steps {
            let p = Int(rng.next() % 2)
            let pool = pools[p]
            let persistent = p == 0
            let key = Key(pool, rng.next() % objects, Int(rng.next() % UInt64(indexes)))
            let roll = rng.next() % 100
            switch roll {
            case 0..<45:
                let kind = PageKind.allCases.randomElement(using: &rng)!
                let bytes = pages.page(kind, tag: UInt64(p) << 32 | UInt64(key.index.rawValue), version: UInt64(step))
                let result = backend.put(key, bytes)
                if result == .stored {
                    model[key] = Expectation(last: bytes)
                    stored += 1
                } else {
                    model[key] = Expectation(last: nil, mayHit: false)
                    refused += 1
                    if persistent, result == .refused(.noSuchPool) || result == .refused(.invalidated) {
                        v.add("step \(step): a put to a live pool was refused with \(result)")
                    }
                }
            case 45..<85:
                let got = backend.fetch(key)
                let expected = model[key] ?? Expectation(last: nil, mayHit: false)
                switch got {
                case .failure(let error):
                    v.add("step \(step): a get of \(key) failed: \(error)")
                case .success(nil):
                    misses += 1
                    if persistent {
                        v.check(expected.last == nil, "step \(step): a persistent key missed, expected \(summary(expected.last))")
                    } else {
                        model[key, default: Expectation()].mayHit = false
                    }
                case .success(let bytes?):
                    hits += 1
                    if persistent {
                        v.check(bytes == expected.last, "step \(step): a persistent get returned \(summary(bytes)), expected \(summary(expected.last))")
                    } else if !expected.mayHit || expected.last == nil {
                        v.add("step \(step): an ephemeral get hit (\(summary(bytes))) after a miss, a flush or a refused put, with no put since")
                    } else {
                        v.check(bytes == expected.last, "step \(step): an ephemeral get returned \(summary(bytes)), not the last put's \(summary(expected.last))")
                    }
                }
            case 85..<96:
                let held = backend.flushPage(key)
                let expected = model[key]
                if persistent {
                    v.check(held == (expected?.last != nil), "step \(step): flushPage said \(held), the model holds \(summary(expected?.last))")
                } else if held {
                    v.check(expected?.last != nil, "step \(step): flushPage found a page where nothing can be held")
                }
                model[key] = Expectation(last: nil, mayHit: false)
            default:
                let object = key.object
                let dropped = backend.flushObject(pool: pool, object: object)
                let inModel = model.filter { $0.key.pool == pool && $0.key.object == object && $0.value.last != nil }.count
                if persistent {
                    v.check(dropped == inModel, "step \(step): flushObject dropped \(dropped) pages, the model holds \(inModel)")
                } else {
                    v.check(dropped <= inModel, "step \(step): flushObject dropped \(dropped) pages, at most \(inModel) can be held")
                }
                for k in model.keys where k.pool == pool && k.object == object { model[k] = Expectation(last: nil, mayHit: false) }
            }
        }
        let persistentHeld = model.filter { $0.key.pool == pools[0] && $0.value.last != nil }.count
        let usage = backend.usage(of: pools[0])
        v.check(usage?.pages == persistentHeld, "the persistent pool holds \(persistentHeld) pages, usage says \(String(describing: usage))")
        for pool in pools {
            for object in 0..<objects { backend.flushObject(pool: pool, object: ObjectID(rawValue: object)) }
            let empty = backend.usage(of: pool)
            v.check(empty == PoolUsage(), "after flushing every object the usage is \(String(describing: empty))")
        }
        // A model check that never stored, hit or refused would prove little.
        v.check(stored > steps / 10 && hits > steps / 20 && misses > 0, "too few outcomes of each kind: \(stored) stored, \(refused) refused, \(hits) hits, \(misses) misses")
        return v.list
    }
}
