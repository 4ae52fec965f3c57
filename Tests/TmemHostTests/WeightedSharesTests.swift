import Testing
import Tmem
import TmemTestKit
import TmemHost

/// The share arithmetic on its own: weighted max-min fairness (water-filling).
struct WeightedSharesTests {
    @Test func contendingClientsGetSharesProportionalToWeight() {
        #expect(weightedShares(capacity: 1000, demands: [(1, .max), (3, .max)]) == [250, 750])
        #expect(weightedShares(capacity: 900, demands: [(1, .max), (1, .max), (1, .max)]) == [300, 300, 300])
        #expect(weightedShares(capacity: 10, demands: [(1, .max), (2, .max)]) == [3, 6], "rounded down")
    }

    @Test func aClientWantingLessKeepsWhatItUsesAndTheRestIsDividedByWeight() {
        // 100 for the small one; 900 left for weights 1 and 2.
        #expect(weightedShares(capacity: 1000, demands: [(1, 100), (1, .max), (2, .max)]) == [100, 300, 600])
        // Everyone fits: everyone gets its demand.
        #expect(weightedShares(capacity: 1000, demands: [(5, 10), (1, 20), (1, 30)]) == [10, 20, 30])
        // The small one's demand sits exactly at its weighted part: it is satisfied.
        #expect(weightedShares(capacity: 1000, demands: [(1, 500), (1, 700)]) == [500, 500])
    }

    @Test func edgeCases() {
        #expect(weightedShares(capacity: 0, demands: [(1, 5), (2, .max)]) == [0, 0])
        #expect(weightedShares(capacity: 100, demands: []) == [])
        #expect(weightedShares(capacity: 100, demands: [(1, 0), (1, .max)]) == [0, 100])
        #expect(weightedShares(capacity: Int.max / 2, demands: [(1_000_000, .max), (1, .max)]).reduce(0, +) <= Int.max / 2)
    }

    @Test func randomInputsKeepEveryProperty() {
        var rng = seededGenerator("WeightedSharesTests.randomInputsKeepEveryProperty", default: 2026)
        for round in 0..<3000 {
            let n = Int(rng.next() % 8) + 1
            let capacity = Int(rng.next() % 1_000_000)
            let demands: [(weight: Int, demand: Int)] = (0..<n).map { _ in
                let weight = Int(rng.next() % 10) + 1
                let demand = rng.next() % 4 == 0 ? Int.max : Int(rng.next() % 600_000)
                return (weight, demand)
            }
            let shares = weightedShares(capacity: capacity, demands: demands)
            let context = "round \(round): capacity \(capacity), demands \(demands), shares \(shares)"
            #expect(shares.reduce(0, +) <= capacity, "\(context)")
            for i in 0..<n { #expect(shares[i] >= 0 && shares[i] <= demands[i].demand, "nobody gets more than it wants: \(context)") }
            let wanted = demands.reduce(0) { $0 &+ min($1.demand, capacity + 1) }
            if wanted <= capacity {
                #expect(shares == demands.map(\.demand), "when everything fits, everyone gets its demand: \(context)")
            } else {
                // Nearly all of it is handed out: less than one byte per client is lost to rounding.
                #expect(capacity - shares.reduce(0, +) < n, "\(context)")
            }
            // Max-min fairness: a client that got less than it wanted has, per unit of weight, at least as
            // much as anyone else (up to rounding).
            for i in 0..<n where shares[i] < demands[i].demand {
                for j in 0..<n {
                    #expect(shares[j] * demands[i].weight <= (shares[i] + 1) * demands[j].weight, "\(context): \(i) vs \(j)")
                }
            }
            // Monotone in capacity.
            let more = weightedShares(capacity: capacity + Int(rng.next() % 100_000), demands: demands)
            for i in 0..<n { #expect(more[i] >= shares[i], "a share fell when capacity grew: \(context) -> \(more)") }
            // All contending: proportional to weight, within a byte.
            let contending = demands.map { (weight: $0.weight, demand: Int.max) }
            let proportional = weightedShares(capacity: capacity, demands: contending)
            let total = demands.reduce(0) { $0 + $1.weight }
            for i in 0..<n {
                let exact = Double(capacity) * Double(demands[i].weight) / Double(total)
                #expect(abs(Double(proportional[i]) - exact) < 1.0, "\(context): contending \(proportional)")
            }
        }
    }
}
