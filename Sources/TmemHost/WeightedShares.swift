/// Divides `capacity` among clients by weighted max-min fairness ("water-filling"): every client gets
/// the same amount per unit of weight, except that a client wanting less than that gets what it wants,
/// and what it leaves is divided among the others, by weight again.
///
/// Picture the capacity poured into vessels of widths equal to the weights and depths equal to each
/// client's demand divided by its weight: the level rises evenly until the capacity is used; a client's
/// share is `min(demand, level × weight)`. With every demand unbounded, the shares are proportional to
/// the weights; with every demand small, they are the demands.
///
/// Properties, which the tests check on random inputs: the shares sum to at most `capacity` (and to
/// exactly what is asked, when everything fits); nobody gets more than its demand; when every demand is
/// at least `capacity`, shares are proportional to weights (each within 1 byte of it); a share never
/// falls when the capacity grows.
///
/// The level is compared exactly, in 128-bit products (no floating point), so the result depends only
/// on the inputs; each share is then rounded down, so the sum may fall short of `capacity` by less than
/// one byte per client.
///
/// - Parameters:
///   - capacity: What there is to divide, at least 0 (bytes).
///   - demands: Each client's weight (at least 1) and what it wants (at least 0; `Int.max` for a client
///     that wants all it can get).
/// - Returns: Each client's share, in the order of `demands`.
/// - Complexity: O(n log n) for n clients.
public func weightedShares(capacity: Int, demands: [(weight: Int, demand: Int)]) -> [Int] {
    precondition(capacity >= 0, "a capacity is at least 0")
    precondition(demands.allSatisfy { $0.weight >= 1 && $0.demand >= 0 }, "weights are at least 1, demands at least 0")
    // Least demand per unit of weight first: a[i] before a[j] when d_i / w_i < d_j / w_j.
    let order = demands.indices.sorted { i, j in
        product(demands[i].demand, demands[j].weight) < product(demands[j].demand, demands[i].weight)
    }
    var shares = [Int](repeating: 0, count: demands.count)
    var remaining = capacity
    var remainingWeight = demands.reduce(0) { $0 + $1.weight }
    for (position, i) in order.enumerated() {
        let (weight, demand) = demands[i]
        // Satisfied when its demand is within the level: d / w <= remaining / remainingWeight.
        if product(demand, remainingWeight) <= product(remaining, weight) {
            shares[i] = demand
            remaining -= demand
            remainingWeight -= weight
            continue
        }
        // This client and every later one (whose demand per weight is at least as high) get the level.
        for j in order[position...] {
            shares[j] = Int(multiplying: remaining, by: demands[j].weight, dividingBy: remainingWeight)
        }
        break
    }
    return shares
}

/// A 128-bit product of two non-negative integers, comparable as a pair (high word first).
private struct Product: Comparable {
    let high: Int
    let low: UInt

    static func < (a: Product, b: Product) -> Bool { a.high != b.high ? a.high < b.high : a.low < b.low }
}

private func product(_ a: Int, _ b: Int) -> Product {
    let (high, low) = a.multipliedFullWidth(by: b)
    return Product(high: high, low: low)
}

extension Int {
    /// `a × b / c` rounded down, without overflow in the product; the quotient must fit (b <= c does).
    init(multiplying a: Int, by b: Int, dividingBy c: Int) {
        self = c.dividingFullWidth(a.multipliedFullWidth(by: b)).quotient
    }
}
