import TmemFrontswap

/// The reference model of what a frontswap area must return: the bytes of the last store to each slot,
/// or nothing after an invalidation. It does not predict where a page goes (any store may be refused);
/// it counts what the frontend reported, so counters can be checked against it.
public struct FrontswapModel: Sendable {
    /// Per area, per slot: the bytes a load must return.
    public private(set) var contents: [SwapArea: [Int: [UInt8]]] = [:]
    /// Counters as the reported outcomes add up.
    public private(set) var expected = FrontswapCounters()

    /// An empty model.
    public init() {}

    /// Records a store and where the frontend said it went.
    public mutating func stored(_ area: SwapArea, _ offset: Int, _ bytes: [UInt8], result: StoreResult) {
        contents[area, default: [:]][offset] = bytes
        switch result {
        case .tmem: expected.succStores += 1
        case .disk: expected.failedStores += 1
        }
    }

    /// Records a store that threw: the slot then holds nothing.
    public mutating func storeFailed(_ area: SwapArea, _ offset: Int) {
        contents[area]?[offset] = nil
    }

    /// Records a load's source; the caller checks the bytes against ``expectedBytes(_:_:)``.
    public mutating func loaded(_ result: LoadResult, exclusive: Bool, _ area: SwapArea, _ offset: Int) {
        if result == .tmem {
            expected.loads += 1
            if exclusive { contents[area]?[offset] = nil }
        }
    }

    /// Records an invalidation; `dropped` is whether transcendent memory held the page.
    public mutating func invalidated(_ area: SwapArea, _ offset: Int, dropped: Bool) {
        contents[area]?[offset] = nil
        if dropped { expected.invalidates += 1 }
    }

    /// Records an area invalidation: the slots transcendent memory held lose their pages.
    public mutating func areaInvalidated(_ area: SwapArea, heldOffsets: [Int]) {
        for offset in heldOffsets { contents[area]?[offset] = nil }
    }

    /// The bytes a load of the slot must return, or nil if it must answer `.notStored`.
    public func expectedBytes(_ area: SwapArea, _ offset: Int) -> [UInt8]? { contents[area]?[offset] }
}
