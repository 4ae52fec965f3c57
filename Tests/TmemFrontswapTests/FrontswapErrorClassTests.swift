import Testing
import Tmem
import TmemFrontswap
import TmemTestKit

/// What frontswap does with each class of backend failure (TmemError's predicates): a page the backend
/// cannot return *now* keeps its slot, a page it lost or damaged is reported lost and the slot emptied,
/// and a backend that forgets a page it accepted is an error the caller can handle, not a trap.
struct FrontswapErrorClassTests {
    private func key(_ offset: Int) -> Key {
        Key(pool: PoolID(rawValue: 1), object: ObjectID(rawValue: 0), index: PageIndex(rawValue: UInt32(offset)))
    }

    @Test func anUnreachableBackendKeepsTheSlotAndTheLoadCanBeRetried() throws {
        let faulty = FaultyBackend(wrapping: RAMPool(capacity: 1 << 20))
        let f = Fixture(backend: faulty)
        try f.initArea(0, pages: 8)
        #expect(try f.store(0, 3, page(3)) == .tmem)
        faulty.setGetFailureRule { _ in .unavailable("the host did not answer in 50 ms (injected)") }
        let error = #expect(throws: FrontswapError.self) { try f.load(0, 3) }
        #expect(error?.isRetryable == true)
        #expect(error?.isPageLost == false)
        #expect(f.frontswap.isHeld(SwapArea(0), offset: PageOffset(3)), "a timeout must not throw the page away")
        #expect(f.frontswap.counters.retryableErrors == 1)
        #expect(f.frontswap.counters.lostPages == 0)
        faulty.setGetFailureRule(nil)
        #expect(try f.load(0, 3) == (.tmem, page(3)))
    }

    @Test func aLostPageIsReportedAndTheSlotEmptied() throws {
        let faulty = FaultyBackend(wrapping: RAMPool(capacity: 1 << 20))
        let f = Fixture(backend: faulty)
        try f.initArea(0, pages: 8)
        _ = try f.store(0, 5, page(5))
        faulty.setGetFailureRule { _ in .lost("the host restarted (injected)") }
        let error = #expect(throws: FrontswapError.self) { try f.load(0, 5) }
        #expect(error?.isPageLost == true)
        #expect(error?.isRetryable == false)
        #expect(error?.message.contains("offset 5") == true)
        faulty.setGetFailureRule(nil)
        #expect(try f.load(0, 5).0 == .notStored, "after a reported loss the slot holds nothing, never stale bytes")
        #expect(f.frontswap.counters.lostPages == 1)
        #expect(f.frontswap.currPages == 0)
    }

    @Test func aBackendThatForgetsAPageIsAnErrorNotATrap() throws {
        let faulty = FaultyBackend(wrapping: RAMPool(capacity: 1 << 20))
        let f = Fixture(backend: faulty)
        try f.initArea(0, pages: 8)
        _ = try f.store(0, 1, page(1))
        _ = try f.store(0, 2, page(2))
        faulty.forget(key(1))
        let error = #expect(throws: FrontswapError.self) { try f.load(0, 1) }
        #expect(error?.isPageLost == true)
        #expect(f.frontswap.counters.lostPages == 1)
        #expect(try f.load(0, 1).0 == .notStored)
        #expect(try f.load(0, 2) == (.tmem, page(2)), "the other pages are untouched")
    }

    @Test func aDamagedPageIsLostNotRetryable() throws {
        let faulty = FaultyBackend(wrapping: RAMPool(capacity: 1 << 20))
        let f = Fixture(backend: faulty)
        try f.initArea(0, pages: 4)
        _ = try f.store(0, 2, page(1))
        faulty.corrupt(key(2))
        let error = #expect(throws: FrontswapError.self) { try f.load(0, 2) }
        #expect(error?.isPageLost == true)
        #expect(error?.isRetryable == false)
        #expect(f.frontswap.counters.lostPages == 1)
    }

    @Test func shrinkKeepsPagesTheBackendCannotReturnNow() throws {
        let faulty = FaultyBackend(wrapping: RAMPool(capacity: 1 << 20))
        let f = Fixture(backend: faulty)
        try f.initArea(0, pages: 8)
        for i in 0..<8 { _ = try f.store(0, i, page(i)) }
        faulty.setGetFailureRule { $0.index.rawValue % 2 == 0 ? .unavailable("timeout (injected)") : nil }
        let error = #expect(throws: FrontswapError.self) { try f.frontswap.shrink(toPages: 0) }
        #expect(error?.isRetryable == true)
        // The odd slots moved to the device; the even ones stayed in transcendent memory.
        faulty.setGetFailureRule(nil)
        for i in 0..<8 { #expect(try f.load(0, i) == (i % 2 == 0 ? .tmem : .disk, page(i)), "offset \(i)") }
        #expect(f.frontswap.counters.writebackErrors > 0)
    }

    @Test func tmemErrorClassesAreDistinct() {
        let errors: [TmemError] = [
            .corruptPage("c"), .unavailable("u"), .lost("l"), .invalidArgument("i"), .tooManyPools("t"),
        ]
        let classes = errors.map { [$0.isDamaged, $0.isRetryable, $0.isLost, $0.isInvalidArgument, $0.isTooManyPools] }
        for (i, row) in classes.enumerated() {
            #expect(row.filter { $0 }.count == 1, "\(errors[i]) is in exactly one class")
            #expect(row[i], "\(errors[i]) answers its own predicate")
        }
    }
}
