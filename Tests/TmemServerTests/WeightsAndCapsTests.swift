import Glibc
import Testing
import Tmem
import TmemHost
import TmemRemote
import TmemTestKit

/// Weights and caps through the server (SEMANTICS.md, "The host"): four clients with `--client`
/// policies (weights 1, 2 and 4, and a fourth of weight 1 capped at 256 KiB) put, each from its own
/// thread over its own connection, twice the host's 4 MiB capacity of incompressible pages into
/// ephemeral pools (at saturation the host makes room by evicting the pages of whoever is furthest above
/// its share).
///
/// - The cap is never exceeded: the host's statistics, sampled all through the run, never show the
///   capped client above it (nor the host above its capacity).
/// - At saturation the others hold shares of what the capped client leaves in proportion 1:2:4, each
///   within 2% of the capacity (20 pages) of its weighted part (the host evicts a page at a time here, and the
///   clients race on two cores).
/// - Refusals are counted by client and reason: the host's counts per client equal what each client
///   was told, reason by reason (`refused_capacity` as `.capacity`, the rest as `.policy`), and the capped
///   client's are cap refusals.
@Suite struct WeightsAndCapsTests {
    static let capacity = 4 << 20
    static let cap = 256 << 10
    static let weights = ["w1": 1, "w2": 2, "w4": 4]

    @Test func sharesFollowWeightsAndCapsHoldThroughTheServer() throws {
        let seed = testSeed("sharesFollowWeightsAndCapsHoldThroughTheServer", default: 0x1240)
        var policies = Self.weights.mapValues { ClientPolicy(weight: $0) }
        policies["capped"] = ClientPolicy(weight: 1, cap: Self.cap)
        let local = try LocalHost(capacity: Self.capacity, clients: policies)
        defer { local.stop() }
        let names = ["w1", "w2", "w4", "capped"]
        let clients = try names.map { try local.client(name: $0, compressPages: false) }
        let pools = try clients.map { try $0.createPool(.ephemeral) }
        // What each page is charged: it does not compress, so 4096 bytes and the metadata charge.
        let putsPerClient = 2 * Self.capacity / pageSize

        let told = Locked([String: [RefusalReason: Int]]())
        let running = Locked(names.count)
        let peaks = Locked((capped: 0, host: 0))
        let slowestPut = Locked<UInt64>(0)
        try runConcurrently(threads: names.count + 1) { thread in
            if thread == names.count {
                // The sampler: the host's statistics all through the run.
                while running.value > 0 {
                    let stats = local.host.statistics()
                    let capped = stats.clients.filter { $0.name == "capped" }.reduce(0) { $0 + $1.usedBytes }
                    peaks.withLock { $0 = (max($0.capped, capped), max($0.host, stats.usedBytes)) }
                    var pause = timespec(tv_sec: 0, tv_nsec: 2_000_000)  // a sample every 2 ms or so
                    nanosleep(&pause, nil)
                }
                return
            }
            defer { running.withLock { $0 -= 1 } }
            var refusals: [RefusalReason: Int] = [:]
            var slowest: UInt64 = 0
            let page = taggedPage(UInt64(thread), seed: seed, kind: .random)
            for n in 0..<putsPerClient {
                // One page per object, so each eviction takes one page (a chunk never spans objects).
                let started = monotonicNanoseconds()
                if case .refused(let reason) = clients[thread].put(key(pools[thread], UInt64(n), 0), page) {
                    refusals[reason, default: 0] += 1
                }
                slowest = max(slowest, monotonicNanoseconds() - started)
            }
            told.withLock { $0[names[thread]] = refusals }
            slowestPut.withLock { $0 = max($0, slowest) }
        }

        let stats = local.host.statistics()
        func row(_ name: String) -> ClientStatistics { stats.clients.first { $0.name == name }! }
        print("weights: capacity \(Self.capacity), peaks \(peaks.value); " + names.map { "\($0) holds \(row($0).usedBytes), refusals told \(told.value[$0] ?? [:])" }.joined(separator: "; ")
            + "; timeouts \(clients.map { $0.statistic("timeouts") }), reconnects \(clients.map { $0.statistic("reconnects") }), slowest put \(slowestPut.value / 1_000_000) ms")
        #expect(peaks.value.capped <= Self.cap, "the capped client held \(peaks.value.capped) bytes, over its cap")
        #expect(peaks.value.host <= Self.capacity, "the host held \(peaks.value.host) bytes, over its capacity")
        #expect(row("capped").usedBytes <= Self.cap)
        #expect(row("capped").usedBytes >= Self.cap - 2 * (pageSize + 16), "the capped client should reach its cap")

        let left = Self.capacity - row("capped").usedBytes
        let total = Self.weights.values.reduce(0, +)
        for (name, weight) in Self.weights {
            let fair = left / total * weight
            #expect(abs(row(name).usedBytes - fair) <= Self.capacity / 50, "\(name) (weight \(weight)) holds \(row(name).usedBytes), its weighted part \(fair)")
            #expect(row(name).refusals[.refusedCap] == 0)
        }

        for name in names {
            let counts = row(name).refusals
            let heard = told.value[name] ?? [:]
            let policy = RefusalCounts.reported.filter { $0 != .refusedCapacity }.reduce(0) { $0 + counts[$1] }
            #expect(counts[.refusedCapacity] == heard[.capacity, default: 0], "\(name)'s capacity refusals")
            #expect(policy == heard[.policy, default: 0], "\(name)'s policy refusals")
            #expect(heard.keys.allSatisfy { $0 == .capacity || $0 == .policy }, "\(name) was refused for \(heard)")
        }
        #expect(row("capped").refusals[.refusedCap] > 0)
        #expect(row("capped").refusals[.refusedCap] == row("capped").refusals.total)
    }
}
