/// A set of page-aligned address ranges `[start, end)`, kept sorted and merged: which parts of a process's
/// address space the monitor has registered with its userfaultfd.
///
/// Pure value type: no kernel calls, tested on its own.
struct AddressRanges: Equatable, Sendable {
    /// The ranges, sorted by start, non-empty, neither overlapping nor touching.
    private(set) var ranges: [(start: UInt64, end: UInt64)] = []

    static func == (a: Self, b: Self) -> Bool { a.ranges.elementsEqual(b.ranges) { $0 == $1 } }

    /// Total bytes covered.
    var byteCount: UInt64 { ranges.reduce(0) { $0 + ($1.end - $1.start) } }

    /// Whether `address` lies in one of the ranges.
    func contains(_ address: UInt64) -> Bool {
        let i = firstEndingAfter(address)
        return i < ranges.count && ranges[i].start <= address
    }

    /// Adds `[start, end)`, merging with what it overlaps or touches.
    mutating func insert(_ start: UInt64, _ end: UInt64) {
        guard start < end else { return }
        var lower = start
        var upper = end
        var i = firstEndingAfter(start == 0 ? 0 : start - 1)
        let first = i
        while i < ranges.count && ranges[i].start <= end {
            lower = min(lower, ranges[i].start)
            upper = max(upper, ranges[i].end)
            i += 1
        }
        ranges.replaceSubrange(first..<i, with: [(lower, upper)])
    }

    /// Removes `[start, end)`, splitting ranges it cuts.
    mutating func remove(_ start: UInt64, _ end: UInt64) {
        guard start < end else { return }
        var i = firstEndingAfter(start)
        let first = i
        var kept: [(start: UInt64, end: UInt64)] = []
        while i < ranges.count && ranges[i].start < end {
            if ranges[i].start < start { kept.append((ranges[i].start, start)) }
            if ranges[i].end > end { kept.append((end, ranges[i].end)) }
            i += 1
        }
        ranges.replaceSubrange(first..<i, with: kept)
    }

    /// The parts of `[start, end)` not covered by the set, in order.
    func gaps(in start: UInt64, _ end: UInt64) -> [(start: UInt64, end: UInt64)] {
        var result: [(start: UInt64, end: UInt64)] = []
        var cursor = start
        var i = firstEndingAfter(start)
        while cursor < end {
            guard i < ranges.count, ranges[i].start < end else {
                result.append((cursor, end))
                break
            }
            if ranges[i].start > cursor { result.append((cursor, ranges[i].start)) }
            cursor = max(cursor, ranges[i].end)
            i += 1
        }
        return result
    }

    /// Index of the first range whose end is above `address` (binary search).
    private func firstEndingAfter(_ address: UInt64) -> Int {
        var low = 0
        var high = ranges.count
        while low < high {
            let mid = (low + high) / 2
            if ranges[mid].end <= address { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
