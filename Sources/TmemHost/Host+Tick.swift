import Tmem
import TmemZcache

extension Host {
    /// The host's periodic work, called by the server about once a second (never from a put).
    ///
    /// In order: re-evaluates an `auto` capacity (``AutoCapacity``); compacts the store a few steps;
    /// evicts ephemeral pages, least recently used first, of clients above their cap and, while the host
    /// holds more than its capacity, of the client furthest above its share (or, when none above its share
    /// has any, nearest to it); then, when the host is full,
    /// decides shrink notices for the sessions of clients whose persistent pages exceed their share (or
    /// cap): each session of such a client is asked to keep the same fraction of its persistent pages.
    /// A notice is not repeated for a session until its deadline passed or its target fell (a target that
    /// rose is taken silently); a session that complied, or whose client no longer holds too much, has its
    /// notice lifted. While draining, every session with persistent pages is asked for all of them.
    ///
    /// - Parameter now: The monotonic clock in nanoseconds (``monotonicNanoseconds()``; tests pass their own).
    /// - Returns: The notices to send now, in session order.
    /// - Complexity: O(sessions + clients log clients) under the state lock, plus the evictions and
    ///   compaction steps outside it.
    public func tick(nowNanoseconds now: UInt64) -> [ShrinkNotice] {
        reevaluateCapacity()
        for _ in 0..<Self.compactionStepsPerTick {
            if !store.performMaintenance() { break }
        }
        reclaimEphemeral()
        let notices = state.withLock { st -> [ShrinkNotice] in
            st.lastTick = now
            let notices = shrinkNotices(&st, now: now)
            for name in st.accounts.keys { st.accounts[name]?.wanting = false }
            st.removeIdleAccounts()
            return notices
        }
        updateStoreLimit()
        return notices
    }

    /// Asks every session that holds persistent pages to give all of them back (SIGTERM: the server then
    /// waits, bounded, for ``persistentPagesHeld`` to reach 0). From now on every persistent put is
    /// refused (``HostStatus/refusedShrinking``); ephemeral puts and every get still work.
    ///
    /// - Returns: A notice with target 0 for each such session.
    public func drain() -> [ShrinkNotice] {
        state.withLock { st in
            st.draining = true
            var notices: [ShrinkNotice] = []
            for id in st.sessions.keys.sorted() {
                guard let owner = st.sessions[id], owner.persistent.pages > 0 else { continue }
                notices.append(notice(&st, id, targetPages: 0, now: st.lastTick))
            }
            return notices
        }
    }

    /// Persistent pages held for every session: what a drain waits to see reach 0.
    public var persistentPagesHeld: Int { persistent.pages }

    /// Follows the machine, for an `auto` capacity (the memory figures are read outside the lock).
    private func reevaluateCapacity() {
        guard case .auto(let floor) = state.withLock({ $0.setting }), let snapshot = memory.snapshot() else { return }
        let held = usedBytes
        state.withLock { st in
            guard case .auto(floor) = st.setting else { return }
            st.capacity = AutoCapacity.evaluate(
                current: st.capacity, held: held, memory: snapshot, floor: floor, tuning: configuration.autoTuning)
            capacityNow.store(st.capacity, ordering: .relaxed)
        }
    }

    /// Evicts ephemeral pages until no client is above its cap with ephemeral pages left, and the host is
    /// within its capacity or holds no ephemeral pages: over its capacity the host must give memory back
    /// now, and ephemeral pages are the only ones it may drop, so they all may go (furthest above share
    /// first) before shrink notices bring persistent pages back.
    func reclaimEphemeral() {
        for _ in 0..<Self.evictionRoundsPerTick {
            let victims: [PoolID]? = state.withLock { st in
                let overCap = st.accounts.values.filter { account in
                    guard let cap = account.policy.cap else { return false }
                    return account.ephemeral.pages > 0 && account.used(configuration) > cap
                }
                if let account = overCap.min(by: { $0.name < $1.name }) { return account.ephemeralPools }
                guard usedBytes > st.capacity else { return nil }
                let shares = self.shares(st, contender: nil)
                return furthestAboveShare(st, shares, excluding: nil, strictly: false).flatMap { st.accounts[$0]?.ephemeralPools }
            }
            guard let victims, store.evictEphemeral(from: victims, chunks: 16) > 0 else { return }
        }
    }

    /// The shrink notices of one tick (state lock held); see ``tick(nowNanoseconds:)``.
    private func shrinkNotices(_ st: inout HostState, now: UInt64) -> [ShrinkNotice] {
        let full = usedBytes + configuration.maxPutCharge > st.capacity
        let shares = full ? self.shares(st, contender: nil) : [:]
        // Per client: the charged bytes its persistent pages should come down to, and what they are now.
        var targets: [String: (target: Int, held: Int)] = [:]
        for account in st.accounts.values where account.persistent.pages > 0 {
            let used = account.used(configuration)
            var target: Int?
            if st.draining {
                target = 0
            } else {
                if full, let share = shares[account.name], used > share { target = share }
                if let cap = account.policy.cap, used > cap { target = min(target ?? cap, cap) }
            }
            let held = configuration.pageChargeBytes(storedBytes: account.persistent.storedBytes, pages: account.persistent.pages)
            if let target, held > target { targets[account.name] = (target, held) }
        }
        var notices: [ShrinkNotice] = []
        for id in st.sessions.keys.sorted() {
            guard let owner = st.sessions[id] else { continue }
            let pages = owner.persistent.pages
            guard let (target, held) = targets[owner.session.name], pages > 0 else {
                if !st.draining { st.sessions[id]?.shrink = nil }
                continue
            }
            let targetPages = Int(multiplying: pages, by: target, dividingBy: held)
            if pages <= targetPages {
                st.sessions[id]?.shrink = nil
            } else if let current = owner.shrink, now < current.deadline, targetPages >= current.targetPages {
                st.sessions[id]?.shrink?.targetPages = targetPages
            } else {
                notices.append(notice(&st, id, targetPages: targetPages, now: now))
            }
        }
        return notices
    }

    /// Records a notice on its session (state lock held) and returns it.
    private func notice(_ st: inout HostState, _ id: UInt64, targetPages: Int, now: UInt64) -> ShrinkNotice {
        let milliseconds = configuration.shrinkDeadlineMilliseconds
        st.sessions[id]?.shrink = ShrinkState(targetPages: targetPages, deadline: now &+ UInt64(milliseconds) * 1_000_000)
        st.sessions[id]?.noticesSent += 1
        return ShrinkNotice(session: st.sessions[id]!.session, targetPages: targetPages, deadlineMilliseconds: milliseconds)
    }
}
