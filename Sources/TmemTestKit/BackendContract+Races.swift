import Synchronization
import Tmem

// flushObject racing puts and gets of its object.
extension BackendContract {
    /// What the threads of one race round share: each writer's progress, and each flush's view of it.
    /// One writer's last returned version.
    private final class Progress: Sendable {
        let version = Atomic<UInt64>(0)
    }

    private final class RaceLog: Sendable {
        let writers: Int
        /// Per writer, the last version whose put has returned (a writer's puts run one after another,
        /// so every lower version has returned too).
        let completed: [Progress]
        /// Flushes that have returned.
        let flushesDone = Atomic<Int>(0)
        /// For flush n (1-based), the writers' `completed` read just before it began: every version at or
        /// below that had returned before the flush began, so no get that begins after flush n returned
        /// may see it.
        let snapshots = Mutex<[[UInt64]]>([[]])
        /// Versions whose put was refused: no get may ever return them.
        let refused = Mutex<Set<UInt64>>([])
        /// Puts refused because a flush of their object was in flight.
        let invalidated = Atomic<Int>(0)
        /// Writers that have finished their puts.
        let finished = Atomic<Int>(0)

        init(writers: Int) {
            self.writers = writers
            completed = (0..<writers).map { _ in Progress() }
            snapshots.withLock { $0[0] = Array(repeating: 0, count: writers) }
        }

        /// The snapshot a get that began when `done` flushes had returned is held to.
        func floor(after done: Int) -> [UInt64] { snapshots.withLock { $0[done] } }
    }

    /// Checks what a get returned against the race log.
    ///
    /// - Parameters:
    ///   - bytes: What the get returned (nil: a miss).
    ///   - done: The flushes that had returned when the get began.
    private static func judge(_ bytes: [UInt8]?, _ key: Key, done: Int, log: RaceLog, _ v: inout Violations) {
        guard let bytes else { return }
        let (writer, version) = stamp(of: bytes)
        guard writer < log.writers, version > 0, Int(key.index.rawValue) % log.writers == Int(writer) else {
            v.add("a get of \(key) returned a page no writer of that key put (\(summary(bytes)))")
            return
        }
        let floor = log.floor(after: done)[Int(writer)]
        if version <= floor {
            v.add("after \(done) flushObject calls returned, a get of \(key) returned version \(version), put before flush \(done) began (versions up to \(floor) had returned)")
        }
        if log.refused.withLock({ $0.contains(version << 8 | writer) }) {
            v.add("a get of \(key) returned version \(version), whose put was refused")
        }
    }

    /// flushObject under races: in each of `rounds` rounds, three threads put pages of one object (each
    /// page carrying its writer and a version) and get them, while a fourth calls flushObject of that
    /// object over and over and gets pages too. The checks, each sound whatever the interleaving:
    /// - a get that begins after a flushObject returned never returns a version whose put had returned
    ///   before that flush began (so also: a put over a flushed object does not bring it back);
    /// - no get returns a version whose put was refused;
    /// - after the round (all threads done) a last flushObject leaves the object empty: every get misses
    ///   and the pool's usage is zero (no page survived unseen, e.g. one that raced a flush and was
    ///   neither dropped nor refused).
    /// Puts refused with `.invalidated` (a flush raced them) are counted, not judged.
    ///
    /// - Parameters:
    ///   - kind: The pool's kind (the rule is the same for both).
    ///   - rounds: Rounds to run.
    /// - Returns: The violations seen.
    public func checkFlushObjectRaces(_ kind: PoolKind = .ephemeral, rounds: Int = 12) throws -> [String] {
        let v = SharedViolations("\(name) flushObject races (\(kind))")
        let baseSeed = testSeed("\(name) flushObject races (\(kind))", default: seed)
        let pages = PageFactory(seed: seed)
        let backend = try make(32 << 20)
        let pool = try backend.createPool(kind)
        let object = ObjectID(rawValue: 7)
        let writers = 3
        let indexesPerWriter = 24
        let putsPerWriter = 300
        var invalidated = 0
        for round in 0..<rounds {
            let log = RaceLog(writers: writers)
            try runConcurrently(threads: writers + 1) { thread in
                var rng = SeededGenerator(seed: baseSeed &+ UInt64(round * 16 + thread))
                var local = Violations("\(self.name) flushObject races (\(kind)), round \(round)")
                defer { v.merge(local) }
                if thread == writers {
                    // The flusher: flush, then look at a few pages, until the writers are done.
                    var flushes = 0
                    while log.finished.load(ordering: .acquiring) < writers || flushes < 3 {
                        let snapshot = log.completed.map { $0.version.load(ordering: .acquiring) }
                        log.snapshots.withLock { $0.append(snapshot) }
                        backend.flushObject(pool: pool, object: object)
                        flushes += 1
                        log.flushesDone.store(flushes, ordering: .releasing)
                        for _ in 0..<4 {
                            let key = Key(pool: pool, object: object, index: PageIndex(rawValue: UInt32(rng.next() % UInt64(writers * indexesPerWriter))))
                            let done = log.flushesDone.load(ordering: .acquiring)
                            switch backend.fetch(key) {
                            case .success(let bytes): Self.judge(bytes, key, done: done, log: log, &local)
                            case .failure(let error): local.add("a get of \(key) failed: \(error)")
                            }
                        }
                    }
                    return
                }
                // A writer: puts its own indexes (index % writers == thread) with rising versions.
                defer { log.finished.add(1, ordering: .releasing) }
                // The last version put to each of this writer's indexes, 0 when that put was refused.
                var last: [Int: UInt64] = [:]
                for version in 1...UInt64(putsPerWriter) {
                    let index = Int(rng.next() % UInt64(indexesPerWriter)) * writers + thread
                    let key = Key(pool: pool, object: object, index: PageIndex(rawValue: UInt32(index)))
                    let bytes = pages.page(version % 2 == 0 ? .textLike : .random, tag: UInt64(thread), version: version)
                    let result = backend.put(key, bytes)
                    if case .refused(let reason) = result {
                        log.refused.withLock { _ = $0.insert(version << 8 | UInt64(thread)) }
                        if reason == .invalidated { log.invalidated.add(1, ordering: .relaxed) } else {
                            local.add("a put with room to spare was refused: \(reason)")
                        }
                    }
                    last[index] = result == .stored ? version : 0
                    log.completed[thread].version.store(version, ordering: .releasing)
                    // Half the probes are of this writer's own indexes, whose last put it knows: a hit
                    // returns exactly that (put-put-get), never an older version.
                    let own = rng.next() % 2 == 0
                    let probeIndex = own
                        ? Int(rng.next() % UInt64(indexesPerWriter)) * writers + thread
                        : Int(rng.next() % UInt64(writers * indexesPerWriter))
                    let probe = Key(pool: pool, object: object, index: PageIndex(rawValue: UInt32(probeIndex)))
                    let done = log.flushesDone.load(ordering: .acquiring)
                    switch backend.fetch(probe) {
                    case .success(let got):
                        Self.judge(got, probe, done: done, log: log, &local)
                        if own, let got {
                            let expected = last[probeIndex] ?? 0
                            let seen = stamp(of: got).version
                            local.check(seen == expected, "a get of \(probe) returned version \(seen), its last put was version \(expected)\(expected == 0 ? " (refused, or none)" : "")")
                        }
                    case .failure(let error): local.add("a get of \(probe) failed: \(error)")
                    }
                }
            }
            invalidated += log.invalidated.load(ordering: .relaxed)
            // Quiet now: every version the last flush saw as returned must be gone.
            var after = Violations("\(name) flushObject races (\(kind)), round \(round), after")
            let done = log.flushesDone.load(ordering: .acquiring)
            for index in 0..<writers * indexesPerWriter {
                let key = Key(pool: pool, object: object, index: PageIndex(rawValue: UInt32(index)))
                switch backend.fetch(key) {
                case .success(let bytes): Self.judge(bytes, key, done: done, log: log, &after)
                case .failure(let error): after.add("a get of \(key) failed: \(error)")
                }
            }
            // And a flush with nothing racing it empties the object.
            backend.flushObject(pool: pool, object: object)
            for index in 0..<writers * indexesPerWriter {
                let key = Key(pool: pool, object: object, index: PageIndex(rawValue: UInt32(index)))
                let got = backend.fetch(key)
                after.check(got == .success(nil), "after a quiet flushObject, \(key) returned \(describe(got))")
            }
            let usage = backend.usage(of: pool)
            after.check(usage == PoolUsage(), "after a quiet flushObject the pool's usage is \(String(describing: usage))")
            v.merge(after)
        }
        print("\(name) flushObject races (\(kind)): \(invalidated) puts refused as invalidated")
        return v.list
    }
}
