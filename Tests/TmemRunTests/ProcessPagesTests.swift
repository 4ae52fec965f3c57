import Testing
import TmemTestKit

@testable import TmemRun

/// The monitor's per-process page table against a plain model: random faults, fills, drops, munmaps,
/// mremaps, eviction batches and forks, with every invariant checked after each step.
@Suite struct ProcessPagesTests {
    enum ModelState: Equatable {
        case resident(order: Int)
        case stored(slot: Int)
    }

    struct Model {
        var states: [UInt64: ModelState] = [:]
        var clock = 0
        var nextSlot = 0

        mutating func makeResident(_ page: UInt64) {
            clock += 1
            states[page] = .resident(order: clock)
        }

        var residentCount: Int { states.values.filter { if case .resident = $0 { true } else { false } }.count }

        /// The resident pages, oldest first.
        var oldestFirst: [UInt64] {
            states.compactMap { page, state -> (UInt64, Int)? in
                if case .resident(let order) = state { return (page, order) }
                return nil
            }.sorted { $0.1 < $1.1 }.map(\.0)
        }
    }

    static func check(_ pages: ProcessPages, _ model: Model) {
        #expect(pages.residentCount == model.residentCount)
        #expect(pages.states.count == model.states.count)
        for (page, state) in model.states {
            switch state {
            case .resident: #expect(pages.states[page].map { if case .resident = $0 { true } else { false } } == true)
            case .stored(let slot): #expect(pages.states[page] == .stored(slot: slot))
            }
        }
    }

    @Test func matchesTheModel() {
        var random = seededGenerator("ProcessPagesTests.matchesTheModel", default: 11)
        var pages = ProcessPages()
        var model = Model()
        var total = 0
        let span: UInt64 = 512
        for _ in 0..<20_000 {
            let page = UInt64.random(in: 0..<span, using: &random)
            switch Int.random(in: 0..<100, using: &random) {
            case 0..<45:
                // A fault, served.
                let decision = pages.decide(page)
                switch model.states[page] {
                case nil: #expect(decision == .fillZeros(newlyResident: true))
                case .resident: #expect(decision == .fillZeros(newlyResident: false))
                case .stored(let slot): #expect(decision == .load(slot: slot))
                }
                let released = pages.filled(page)
                if case .stored(let slot) = model.states[page] { #expect(released == slot) } else { #expect(released == nil) }
                if case .resident = model.states[page] {} else { model.makeResident(page) }
            case 45..<55:
                // MADV_DONTNEED or munmap of a few pages.
                let count = UInt64.random(in: 1...16, using: &random)
                let unmapped = Bool.random(using: &random)
                let expected = (page..<(page + count)).compactMap { p -> Int? in
                    if case .stored(let slot) = model.states[p] { return slot }
                    return nil
                }
                let released = pages.drop(page << 12, (page + count) << 12, unmapped: unmapped)
                #expect(released.sorted() == expected.sorted())
                for p in page..<(page + count) { model.states[p] = nil }
            case 55..<60:
                // mremap of a few pages to a free place.
                let count = UInt64.random(in: 1...8, using: &random)
                let target = span + UInt64.random(in: 0..<span, using: &random)
                guard (target..<(target + count)).allSatisfy({ model.states[$0] == nil }),
                    target >= page + count || target + count <= page
                else { continue }
                pages.remap(from: page << 12, to: target << 12, length: count << 12)
                var moved: [(UInt64, ModelState)] = []
                for p in page..<(page + count) { if let s = model.states.removeValue(forKey: p) { moved.append((p, s)) } }
                for (p, s) in moved.sorted(by: { $0.0 < $1.0 }) {
                    if case .resident = s { model.makeResident(p - page + target) } else { model.states[p - page + target] = s }
                }
            case 60..<90:
                // An eviction batch: the oldest resident pages, some moved, some stored, some not.
                let limit = Int.random(in: 1...8, using: &random)
                let chosen = pages.startBatch(limit: limit)
                #expect(chosen == Array(model.oldestFirst.prefix(limit)))
                #expect(pages.batchInFlight == !chosen.isEmpty)
                for p in chosen { #expect(pages.decide(p) == .wait) }
                let moved = chosen.map { _ in Int.random(in: 0..<10, using: &random) < 8 }
                let slots = moved.map { m -> Int? in
                    guard m, Int.random(in: 0..<10, using: &random) < 9 else { return nil }
                    model.nextSlot += 1
                    return model.nextSlot
                }
                let outcomes = pages.finishBatch(moved: moved, slots: slots)
                for (i, p) in chosen.enumerated() {
                    if !moved[i] {
                        #expect(outcomes[i] == .keptResident)
                        model.makeResident(p)
                    } else if let slot = slots[i] {
                        #expect(outcomes[i] == .stored)
                        model.states[p] = .stored(slot: slot)
                    } else {
                        #expect(outcomes[i] == .restore(page: p))
                        model.makeResident(p)
                    }
                }
            default:
                // A fork: the child's table equals the parent's, sharing every stored slot.
                let (child, shared) = pages.forked()
                #expect(child.states == pages.states)
                #expect(child.residentCount == pages.residentCount)
                let stored = model.states.values.compactMap { s -> Int? in if case .stored(let slot) = s { slot } else { nil } }
                #expect(shared.sorted() == stored.sorted())
            }
            total += pages.takeResidentDelta()
            #expect(total == model.residentCount, "the drained deltas add up to the resident count")
            Self.check(pages, model)
        }
    }

    @Test func clearReleasesEverySlotAndResidentPage() {
        var pages = ProcessPages()
        for page: UInt64 in 0..<10 { pages.filled(page) }
        let batch = pages.startBatch(limit: 4)
        _ = pages.finishBatch(moved: batch.map { _ in true }, slots: [7, 8, 9, 10])
        #expect(pages.residentCount == 6)
        let slots = pages.clear()
        #expect(slots.sorted() == [7, 8, 9, 10])
        #expect(pages.residentCount == 0)
        #expect(pages.takeResidentDelta() == 0, "ten pages came, ten went")
    }

    @Test func waitingFaultsComeBackOnceInOrder() {
        var pages = ProcessPages()
        for page: UInt64 in [5, 3, 5, 9, 3] { pages.deferFault(page) }
        #expect(pages.takeDeferred() == [5, 3, 9])
        #expect(pages.takeDeferred().isEmpty)
    }
}

/// The registered-ranges set against a set of pages.
@Suite struct AddressRangesTests {
    @Test func matchesASetOfPages() {
        var random = seededGenerator("AddressRangesTests.matchesASetOfPages", default: 5)
        var ranges = AddressRanges()
        var model = Set<UInt64>()
        for _ in 0..<5_000 {
            let start = UInt64.random(in: 0..<200, using: &random)
            let end = start + UInt64.random(in: 0...20, using: &random)
            switch Int.random(in: 0..<3, using: &random) {
            case 0:
                ranges.insert(start << 12, end << 12)
                model.formUnion(start..<end)
            case 1:
                ranges.remove(start << 12, end << 12)
                model.subtract(start..<end)
            default:
                let gaps = ranges.gaps(in: start << 12, end << 12)
                let covered = Set(gaps.flatMap { ($0.start >> 12)..<($0.end >> 12) })
                #expect(covered == Set((start..<end).filter { !model.contains($0) }))
            }
            // Sorted, merged, and covering exactly the model.
            for (a, b) in zip(ranges.ranges, ranges.ranges.dropFirst()) { #expect(a.end < b.start) }
            #expect(ranges.byteCount == UInt64(model.count) << 12)
            let probe = UInt64.random(in: 0..<220, using: &random)
            #expect(ranges.contains(probe << 12) == model.contains(probe))
        }
    }
}
