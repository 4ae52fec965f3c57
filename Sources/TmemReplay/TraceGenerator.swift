/// Makes random swap traces in the `tmem replay` format, for tests and for measuring replay throughput.
///
/// The mix is a swap workload's: stores (with overwrites) and loads dominate, with invalidations, and a
/// rare shrink, stats, area invalidation and re-init. It is deterministic for a seed.
public struct TraceGenerator {
    /// Number of areas (types 0..<areas).
    public var areas: Int
    /// Slots per area.
    public var pagesPerArea: Int
    /// Corpus pages to draw from (K in 0..<corpusPages).
    public var corpusPages: Int
    /// Also emit area invalidations and re-inits.
    public var includeAreaInvalidation: Bool

    /// Creates a generator.
    public init(areas: Int, pagesPerArea: Int, corpusPages: Int, includeAreaInvalidation: Bool = true) {
        precondition(areas > 0 && pagesPerArea > 0 && corpusPages > 0)
        self.areas = areas
        self.pagesPerArea = pagesPerArea
        self.corpusPages = corpusPages
        self.includeAreaInvalidation = includeAreaInvalidation
    }

    /// The trace: `init` of every area, then `operations` random operations.
    ///
    /// - Parameters:
    ///   - operations: How many operations after the inits.
    ///   - rng: The randomness.
    /// - Returns: The operations in order.
    public func generate<G: RandomNumberGenerator>(operations: Int, using rng: inout G) -> [TraceOperation] {
        var trace: [TraceOperation] = (0..<areas).map { .initArea(area: $0, pages: pagesPerArea) }
        trace.reserveCapacity(trace.count + operations)
        for _ in 0..<operations {
            let area = Int.random(in: 0..<areas, using: &rng)
            let offset = Int.random(in: 0..<pagesPerArea, using: &rng)
            switch Int.random(in: 0..<1000, using: &rng) {
            case 0..<450: trace.append(.store(area: area, offset: offset, corpusPage: Int.random(in: 0..<corpusPages, using: &rng)))
            case 450..<850: trace.append(.load(area: area, offset: offset))
            case 850..<985: trace.append(.invalidate(area: area, offset: offset))
            case 985..<990: trace.append(.shrink(target: Int.random(in: 0...pagesPerArea, using: &rng)))
            case 990..<996: trace.append(.stats)
            case 996..<998 where includeAreaInvalidation: trace.append(.invalidateArea(area: area))
            case 998..<1000 where includeAreaInvalidation: trace.append(.initArea(area: area, pages: pagesPerArea))
            default: trace.append(.load(area: area, offset: offset))
            }
        }
        return trace
    }
}
