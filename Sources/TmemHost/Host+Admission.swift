import Tmem
import TmemZcache

/// What the policy decided about a put (under the state lock).
enum Admission {
    /// The session has no such pool: nothing is touched.
    case unknownPool
    /// Refused (and counted): the caller flushes the key in this store pool.
    case refused(HostStatus, PoolID)
    /// Room is to be made first, from these pools (the ephemeral pools of the client furthest above its
    /// share); then the put asks again.
    case evict([PoolID])
    /// Admitted, with one page's charge reserved until ``Host/settle(_:_:_:)``.
    case admitted(Ticket)
}

/// An admitted put's reservation.
struct Ticket {
    let pool: PoolID
    let account: String
    let session: UInt64
    let charge: Int
    /// The session's cleancache counters when the pool is ephemeral (a stored put counts there).
    let cleancache: CleancacheMeter?
}

extension Host {
    /// The policy on one put (see ``Host``), with the state lock held.
    ///
    /// - Parameters:
    ///   - mayEvict: Whether the put may still ask for room to be made; when not, a put that would need
    ///     it is refused for capacity.
    func admit(_ st: inout HostState, _ session: Session, _ pool: UInt32, wellFormed: Bool, mayEvict: Bool) -> Admission {
        guard let owner = st.sessions[session.id], let entry = owner.pools[pool] else {
            st.sessions[session.id]?.refusals.count(.noSuchPool)
            return .unknownPool
        }
        let name = entry.uuid == nil ? session.name : ClientPolicy.sharedClient
        func refuse(_ status: HostStatus) -> Admission {
            st.sessions[session.id]?.refusals.count(status)
            if status == .refusedShare || status == .refusedCapacity { st.accounts[name]?.wanting = true }
            return .refused(status, entry.id)
        }
        guard wellFormed else { return refuse(.badRequest) }
        if entry.kind == .persistent, !hasComplied(&st, session.id) { return refuse(.refusedShrinking) }
        guard let account = st.accounts[name] else { preconditionFailure("a pool of \(name) outlived its account") }
        let charge = configuration.maxPutCharge
        let used = account.used(configuration) + account.reserved
        if let cap = account.policy.cap, used + charge > cap { return refuse(.refusedCap) }
        if usedBytes + st.reserved + charge > st.capacity {
            let shares = self.shares(st, contender: name)
            if used >= shares[name] ?? 0 {
                // At its share: room only from its own ephemeral pages (least recently used first), as a
                // backend drops ephemeral pages before it refuses a put for want of room.
                guard mayEvict, account.ephemeral.pages > 0 else { return refuse(.refusedShare) }
                return .evict(account.ephemeralPools)
            }
            guard mayEvict else { return refuse(.refusedCapacity) }
            if let victim = furthestAboveShare(st, shares, excluding: name) {
                return .evict(st.accounts[victim]?.ephemeralPools ?? [])
            }
            // Nobody else is above its share: the client's own ephemeral pages make room.
            guard account.ephemeral.pages > 0 else { return refuse(.refusedCapacity) }
            return .evict(account.ephemeralPools)
        }
        st.reserved += charge
        st.accounts[name]?.reserved += charge
        return .admitted(Ticket(
            pool: entry.id, account: name, session: session.id, charge: charge,
            cleancache: entry.kind == .ephemeral ? owner.cleancache : nil))
    }

    /// Ends an admitted put: releases its reservation and counts a refusal by the store.
    func settle(_ st: inout HostState, _ ticket: Ticket, _ result: PutResult) -> HostStatus {
        st.reserved -= ticket.charge
        st.accounts[ticket.account]?.reserved -= ticket.charge
        guard case .refused(let reason) = result else {
            if let meter = ticket.cleancache { countPut(meter) }
            return .ok
        }
        let status = HostStatus(reason)
        st.sessions[ticket.session]?.refusals.count(status)
        if status == .refusedCapacity { st.accounts[ticket.account]?.wanting = true }
        return status
    }

    /// Whether a session may put persistent pages: not while the host drains, nor while it holds more
    /// than its shrink notice's target (the notice is lifted once it complies).
    func hasComplied(_ st: inout HostState, _ id: UInt64) -> Bool {
        guard !st.draining else { return false }
        guard let owner = st.sessions[id], let shrink = owner.shrink else { return true }
        guard owner.persistent.pages <= shrink.targetPages else { return false }
        st.sessions[id]?.shrink = nil
        return true
    }

    /// Every active account's weighted share of the capacity, in charged bytes.
    ///
    /// An account wants what it holds (and has in flight), except the contender (the account of the put
    /// being decided) and the accounts refused for room since the last tick, which want without limit:
    /// an account that wants less than its weighted part keeps only what it uses, and the rest goes to
    /// the others by weight.
    ///
    /// - Parameter contender: The account asking for more now, or nil (a tick).
    func shares(_ st: HostState, contender: String?) -> [String: Int] {
        let active = st.accounts.values.filter { $0.isActive || $0.name == contender }
        let demands = active.map { account -> (weight: Int, demand: Int) in
            let wants = account.name == contender || account.wanting
            return (account.policy.weight, wants ? Int.max : account.used(configuration) + account.reserved)
        }
        let divided = weightedShares(capacity: st.capacity, demands: demands)
        return Dictionary(uniqueKeysWithValues: zip(active.map(\.name), divided))
    }

    /// The account furthest above its share (by charged bytes) that has ephemeral pages to give up.
    ///
    /// - Parameter strictly: Whether only accounts above their share qualify (a put making room); when
    ///   not (a host over its capacity), the account nearest to or furthest above its share goes first.
    func furthestAboveShare(_ st: HostState, _ shares: [String: Int], excluding excluded: String?, strictly: Bool = true)
        -> String?
    {
        var best: (name: String, excess: Int)?
        for account in st.accounts.values where account.name != excluded && account.ephemeral.pages > 0 {
            let excess = account.used(configuration) - (shares[account.name] ?? 0)
            // Ties go to the name that sorts first, so the order does not depend on the dictionary's.
            if excess > 0 || !strictly, best.map({ excess > $0.excess || (excess == $0.excess && account.name < $0.name) }) ?? true {
                best = (account.name, excess)
            }
        }
        return best?.name
    }
}
