#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization
import Tmem

/// A frontend that can take pages back from its backend: what a ``Reclaimer`` hands the backend's
/// coldest keys to. ``Frontswap`` is one.
public protocol ReclaimTarget: AnyObject, Sendable {
    /// Whether `pool` is one of this frontend's pools (only those keys are handed to it).
    func owns(_ pool: PoolID) -> Bool

    /// Repatriates the pages of these keys (all of the frontend's own pools) to the backing devices.
    ///
    /// - Parameters:
    ///   - keys: Keys, coldest first.
    ///   - buffer: Room for 64 pages, page-aligned, for the frontend's use during the call.
    /// - Returns: What moved and what could not (each page that could not stays where it was).
    func writeBack(_ keys: [Key], buffer: UnsafeMutableRawBufferPointer) -> WritebackOutcome

    /// Pages the frontend holds in the backend now.
    var heldPages: Int { get }

    /// Repatriates pages until at most `target` are held (frontswap's shrink).
    ///
    /// - Returns: The pages held afterwards.
    /// - Throws: The first failure; pages already moved are on their devices, the rest stay held.
    @discardableResult
    func shrink(toPages target: Int) throws(FrontswapError) -> Int
}

/// The background worker that gives a backend its memory back (zswap's shrink worker): when the backend
/// asks (``Backend/writebackWanted`` > 0, once it passed its high watermark), it takes the backend's
/// coldest persistent keys and hands each to the frontend that owns it, which repatriates the pages to
/// its backing device, until the backend is under its low watermark; then it runs the backend's
/// background work (``Backend/performMaintenance()``: compaction).
///
/// - **Off the store path.** Frontends only ``wake()`` it (one atomic exchange, and a futex wake when it
///   sleeps); every page of device I/O happens on its thread.
/// - **Fair.** Several frontends share one backend and one reclaimer: pages leave in the backend's
///   global coldness order whoever stored them, and each frontend gets back only its own keys, so none
///   starves another by storing more often.
/// - **Loses nothing.** A page that cannot be written back stays held; failures are counted (here and in
///   the frontend's `writebackErrors`) and the last one is kept in ``statistics``.
///
/// Run it on a thread with ``start()`` (and ``stop()`` before dropping it), or drive it by hand with
/// ``reclaim()`` where results must be deterministic (`tmem replay`, tests).
public final class Reclaimer: Sendable {
    /// Counters, and the last failure.
    public struct Statistics: Sendable, Equatable {
        /// Rounds run (one per wake-up or ``reclaim()``).
        public var rounds = 0
        /// Pages repatriated at the backend's request.
        public var writtenBackPages = 0
        /// Pages that could not be repatriated (they stayed held).
        public var writebackFailures = 0
        /// Steps of backend maintenance run.
        public var maintenanceSteps = 0
        /// The last failure, for people.
        public var lastError: String?
    }

    /// The backend whose memory this reclaims.
    public let backend: any Backend
    /// The most keys asked of the backend at once: four repatriation batches.
    static let keysPerRound = 256
    /// How far down the cold end a round looks when the coldest keys cannot be moved.
    static let furthestReach = 16 * 1024
    /// Rounds of writeback per wake-up before the thread looks at maintenance (and at stop) again.
    static let roundsPerWake = 64
    /// Maintenance steps per wake-up: enough to finish an ordinary compaction, few enough that a wake-up
    /// never runs long.
    static let maintenancePerWake = 32

    private let targets = Mutex<[WeakTarget]>([])
    private let stats = Mutex(Statistics())
    private let pending = Atomic<Bool>(false)
    private let stopping = Atomic<Bool>(false)
    private let signal = WakeSignal()
    /// Rounds begun and finished, for ``awaitRound(timeoutNanoseconds:)``.
    private let progress = WakeSignal()
    private let thread = Mutex<pthread_t?>(nil)
    /// Serialises rounds (the thread's and ``reclaim()`` callers'), and owns the page buffer.
    private let work: Mutex<PageBuffer>
    private let intervalNanoseconds: Int

    /// Creates a reclaimer for a backend; frontends join it by passing it to their initialiser.
    ///
    /// - Parameters:
    ///   - backend: The backend to reclaim for.
    ///   - maintenanceIntervalMilliseconds: When started, how often the thread runs maintenance even if
    ///     nobody woke it (compaction after flushes needs no store to trigger it).
    public init(backend: any Backend, maintenanceIntervalMilliseconds: Int = 100) {
        precondition(maintenanceIntervalMilliseconds > 0, "an interval is a positive time")
        self.backend = backend
        intervalNanoseconds = maintenanceIntervalMilliseconds * 1_000_000
        work = Mutex(PageBuffer(pages: Frontswap.repatriationBatch))
    }

    deinit {
        precondition(thread.withLock { $0 == nil }, "a started Reclaimer must be stopped before it is released")
    }

    /// Adds a frontend whose keys this reclaimer may hand back (held weakly).
    ///
    /// A target's weak reference is never loaded under the list's lock except to copy it out (loading it
    /// and dropping it there could run the target's deinit, which detaches, inside the lock).
    public func attach(_ target: any ReclaimTarget) {
        let entry = WeakTarget(target: target)
        targets.withLock { $0.append(entry) }
    }

    /// Removes a frontend (``Frontswap`` detaches itself when it is released; a released target that did
    /// not is skipped).
    public func detach(_ target: any ReclaimTarget) {
        let id = ObjectIdentifier(target)
        targets.withLock { $0.removeAll { $0.id == id } }
    }

    /// Asks for a round soon. Cheap, callable from any thread, including a store path.
    @inline(__always)
    public func wake() {
        guard !pending.exchange(true, ordering: .acquiringAndReleasing) else { return }
        signal.notify()
    }

    /// A snapshot of the counters.
    public var statistics: Statistics { stats.withLock { $0 } }

    /// Runs one round on the calling thread: writeback while the backend wants pages back and some
    /// move, then a bounded amount of maintenance.
    ///
    /// - Returns: What the writeback moved and what failed.
    @discardableResult
    public func reclaim() -> WritebackOutcome {
        progress.begin()
        defer { progress.finish() }
        return work.withLock { buffer in
            var outcome = WritebackOutcome()
            var steps = 0
            /// Runs the backend's background work, within this wake-up's share of steps.
            func maintain() { while steps < Self.maintenancePerWake && backend.performMaintenance() { steps += 1 } }
            if let target = backend.shrinkTarget { outcome.add(honourShrinkNotice(keeping: target)) }
            var reach = Self.keysPerRound
            for _ in 0..<Self.roundsPerWake {
                let wanted = backend.writebackWanted
                guard wanted > 0 else { break }
                let limit = max(min(wanted, Self.keysPerRound), reach)
                let keys = backend.coldestKeys(limit: limit)
                guard !keys.isEmpty else { break }
                let live = targets.withLock { list in list.map(\.target) }.compactMap { $0 }
                var moved = 0
                for target in live {
                    let own = keys.filter { target.owns($0.pool) }
                    guard !own.isEmpty else { continue }
                    let result = target.writeBack(own, buffer: buffer.bytes)
                    outcome.add(result)
                    moved += result.moved
                }
                if moved == 0 {
                    // The coldest keys are ones nobody here can move (their device fails, or their
                    // frontend is not attached): look further down the cold end rather than stall
                    // every other frontend behind them.
                    guard keys.count == limit, reach < Self.furthestReach else { break }
                    reach *= 4
                    continue
                }
                reach = Self.keysPerRound
                // Freed objects leave spans partly used: compact now so the backend's next answer counts
                // what this round gave back, instead of asking for far more than it needs.
                maintain()
            }
            maintain()
            stats.withLock { s in
                s.rounds += 1
                s.writtenBackPages += outcome.moved
                s.writebackFailures += outcome.failed
                s.maintenanceSteps += steps
                if let error = outcome.firstError { s.lastError = error.message }
            }
            return outcome
        }
    }

    /// A host's shrink notice: the frontends together keep at most `target` pages, each in proportion to
    /// what it holds now.
    private func honourShrinkNotice(keeping target: Int) -> WritebackOutcome {
        let live = targets.withLock { list in list.map(\.target) }.compactMap { $0 }
        let held = live.map(\.heldPages)
        let total = held.reduce(0, +)
        var outcome = WritebackOutcome()
        guard total > target else { return outcome }
        for (frontend, pages) in zip(live, held) {
            let keep = Int((Double(target) * Double(pages) / Double(total)).rounded(.down))
            do throws(FrontswapError) {
                outcome.moved += pages - (try frontend.shrink(toPages: keep))
            } catch {
                outcome.moved += max(0, pages - frontend.heldPages)
                outcome.failed += 1
                if outcome.firstError == nil { outcome.firstError = error }
            }
        }
        return outcome
    }

    /// Wakes the thread and waits until a round that began after this call has finished (or the timeout
    /// passed): for a caller that needs the backend's request answered before it goes on (tests, a
    /// planned shutdown), without sleeping.
    ///
    /// - Parameter timeoutNanoseconds: The longest wait.
    /// - Returns: false if no such round finished in time (the thread is not running, or is stuck).
    public func awaitRound(timeoutNanoseconds: Int) -> Bool {
        let begun = progress.begun
        wake()
        return progress.awaitFinished(after: begun, timeoutNanoseconds: timeoutNanoseconds)
    }

    /// Starts the background thread (once).
    ///
    /// - Throws: ``TmemError`` when the thread cannot be created.
    public func start() throws(TmemError) {
        try thread.withLock { (current: inout pthread_t?) throws(TmemError) in
            guard current == nil else { return }
            stopping.store(false, ordering: .releasing)
            var tid = pthread_t()
            let context = Unmanaged.passRetained(self).toOpaque()
            let rc = pthread_create(&tid, nil, { raw in
                let reclaimer = Unmanaged<Reclaimer>.fromOpaque(raw!).takeRetainedValue()
                reclaimer.run()
                return nil
            }, context)
            guard rc == 0 else {
                Unmanaged<Reclaimer>.fromOpaque(context).release()
                throw .unavailable("cannot start the reclaimer thread: \(Errno(rc))")
            }
            current = tid
        }
    }

    /// Stops the background thread and waits for it (a round in progress finishes first). Idempotent.
    public func stop() {
        guard let tid = thread.withLock({ current -> pthread_t? in defer { current = nil }; return current }) else {
            return
        }
        stopping.store(true, ordering: .releasing)
        signal.notify()
        pthread_join(tid, nil)
    }

    private func run() {
        while !stopping.load(ordering: .acquiring) {
            signal.wait(timeoutNanoseconds: intervalNanoseconds)
            pending.store(false, ordering: .releasing)
            guard !stopping.load(ordering: .acquiring) else { return }
            reclaim()
        }
    }
}

/// A frontend held weakly, so a reclaimer never keeps one alive.
private struct WeakTarget: @unchecked Sendable {
    // @unchecked: `weak` storage is read and cleared atomically by the runtime; the struct only lives
    // inside the reclaimer's Mutex.
    weak var target: (any ReclaimTarget)?
    let id: ObjectIdentifier

    init(target: any ReclaimTarget) {
        self.target = target
        id = ObjectIdentifier(target)
    }
}

/// A page-aligned buffer of whole pages owned by one Mutex.
private struct PageBuffer: @unchecked Sendable, ~Copyable {
    // @unchecked: only reached inside the reclaimer's `work` Mutex.
    let bytes: UnsafeMutableRawBufferPointer

    init(pages: Int) {
        bytes = .allocate(byteCount: pages * pageSize, alignment: pageSize)
    }

    deinit { bytes.deallocate() }
}
