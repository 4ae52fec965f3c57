#if canImport(Glibc)
import Glibc
#endif
import Histogram
import Synchronization
import Tmem
import TmemReplay
import TmemTestKit

/// Runs one benchmark phase: `threads` threads each handle their share of `order`, timing every
/// operation into a histogram; the phase's time is wall-clock from the first start to the last finish.
struct PhaseRunner {
    let threads: Int
    let rounds: Int
    let progress: Progress?

    /// Runs a phase `rounds` times (calling `prepare` before each) and keeps the fastest round: the
    /// first round also pays for warming caches and the CPU's clock, which is not what is measured.
    /// Mismatches are summed over all rounds.
    func best(
        _ name: String, order: [Int], prepare: () throws -> Void = {},
        _ operation: @escaping @Sendable (Int, Int) throws -> Bool
    ) throws -> (PhaseResult, mismatches: Int) {
        var best: PhaseResult?
        var mismatches = 0
        for round in 1...rounds {
            try prepare()
            let label = rounds == 1 ? name : "\(name) \(round)/\(rounds)"
            let (result, bad) = try run(label, order: order, operation)
            mismatches += bad
            if best == nil || result.seconds < best!.seconds { best = result }
        }
        return (best!, mismatches)
    }

    /// Runs `operation(threadIndex, pageIndex)` for every page of `order`, split in contiguous shares.
    /// `operation` returns false for a page that did not verify.
    func run(
        _ name: String, order: [Int], _ operation: @escaping @Sendable (Int, Int) throws -> Bool
    ) throws -> (PhaseResult, mismatches: Int) {
        let merged = Mutex(Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three))
        let mismatches = Atomic<Int>(0)
        let done = Atomic<Int>(0)
        let total = order.count
        let share = (total + threads - 1) / threads
        progress?.begin(name, total: total)
        let start = monotonicSeconds()
        try runConcurrently(threads: threads) { t in
            var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
            let range = min(t * share, total)..<min((t + 1) * share, total)
            var bad = 0
            for (n, i) in range.enumerated() {
                let page = order[i]
                let before = monotonicNanoseconds()
                let ok = try operation(t, page)
                let after = monotonicNanoseconds()
                _ = histogram.record(after &- before)
                if !ok { bad += 1 }
                if n & 1023 == 1023 {
                    let sum = done.wrappingAdd(1024, ordering: .relaxed).newValue
                    if t == 0 { progress?.update(sum) }
                }
            }
            mismatches.add(bad, ordering: .relaxed)
            let finished = histogram
            merged.withLock { $0.add(finished) }
        }
        let seconds = monotonicSeconds() - start
        progress?.end()
        let h = merged.withLock { $0 }
        let latency = Latency(p50: h.valueAtPercentile(50), p99: h.valueAtPercentile(99), p999: h.valueAtPercentile(99.9))
        return (PhaseResult(pages: total, seconds: seconds, latency: latency), mismatches.load(ordering: .relaxed))
    }
}

/// A one-line progress bar on standard error, drawn only when it is a terminal.
final class Progress: Sendable {
    private let state = Mutex<(name: String, total: Int, lastPercent: Int)>(("", 0, -1))

    /// A progress bar if standard error is a terminal, else nil.
    static func ifTerminal() -> Progress? { isatty(2) == 1 ? Progress() : nil }

    func begin(_ name: String, total: Int) {
        state.withLock { $0 = (name, total, -1) }
        update(0)
    }

    func update(_ done: Int) {
        let line: String? = state.withLock { s in
            let percent = s.total == 0 ? 100 : min(100, done * 100 / s.total)
            guard percent != s.lastPercent else { return nil }
            s.lastPercent = percent
            let filled = percent * 30 / 100
            let bar: String = String(repeating: "#", count: filled) + String(repeating: " ", count: 30 - filled)
            let name: String = s.name + String(repeating: " ", count: max(0, 24 - s.name.count))
            return "\r  \(name) [\(bar)] \(percent)%"
        }
        if let line { writeStderr(line) }
    }

    func end() { writeStderr("\r" + String(repeating: " ", count: 70) + "\r") }
}

func writeStderr(_ text: String) {
    var copy = text
    copy.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

func monotonicSeconds() -> Double { Double(monotonicNanoseconds()) / 1e9 }
