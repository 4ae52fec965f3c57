import Tmem
import TmemHost
import TmemReplay
#if canImport(Glibc)
import Glibc
#endif

/// The timeline of `tmem host-demo` once its host and clients run: one `poll` loop over the signalfd and
/// the clients' output, with a deadline for each event (a chart every second, the capacity halved half
/// way, the clients told to verify at the end), so nothing sleeps and a signal is handled at once.
struct DemoRun {
    let host: Host
    let children: [DemoChild]
    let say: LineWriter
    /// What a full bar stands for.
    let scale: Int
    let signals: Int32
    /// The last `key=value` fields of each client's status (and `filled`) lines, by name.
    private(set) var status: [String: [String: Int]] = [:]
    /// Each client's `verified` line's fields, by name.
    private(set) var verified: [String: [String: Int]] = [:]
    /// The signal that interrupted the run, if one did.
    private(set) var interrupted: Int32?
    private var loweredFrom: Int?

    init(host: Host, children: [DemoChild], say: LineWriter, scale: Int, signals: Int32) {
        self.host = host
        self.children = children
        self.say = say
        self.scale = scale
        self.signals = signals
    }

    /// Runs the timeline: charts, the capacity halved at `seconds / 2`, the clients told to finish at
    /// `seconds`; returns once every client's output ended (or a signal came, or the verification
    /// timed out and they were killed).
    ///
    /// - Parameters:
    ///   - seconds: The clients' working time.
    ///   - capacity: The host's capacity at the start.
    mutating func drive(seconds: Int, capacity: Int) throws {
        let second: UInt64 = 1_000_000_000
        let start = monotonicNanoseconds()
        let lowerAt = start + UInt64(seconds) * second / 2
        let finishAt = start + UInt64(seconds) * second
        var nextChart = start + second
        var verifyBy: UInt64?
        var note: String?
        while children.contains(where: \.isReading) {
            let now = monotonicNanoseconds()
            if loweredFrom == nil, now >= lowerAt {
                try host.setCapacity(.bytes(capacity / 2))
                loweredFrom = capacity
                note = "capacity halved from \(formatByteCount(capacity)): shares halve, clients above theirs are sent shrink notices"
            }
            if verifyBy == nil, now >= nextChart {
                chart(seconds: Int((now - start + second / 2) / second), note: note)
                note = nil
                nextChart += second
            }
            if verifyBy == nil, now >= finishAt {
                say.writeLine("the host as `tmem stat` shows it:")
                for line in StatTable.lines(StatsSnapshot(host.statistics()), address: nil) { say.writeLine("  " + line) }
                say.writeLine("the clients stop and read back every page, checking each byte...")
                for child in children { child.closeInput() }
                verifyBy = now + HostDemoCommand.verificationTimeoutNanoseconds
            }
            if let verifyBy, now >= verifyBy {
                say.writeLine("VERIFICATION TIMED OUT: the clients were killed")
                for child in children { child.kill(SIGKILL) }
                return
            }
            let next = [verifyBy ?? nextChart, loweredFrom == nil ? lowerAt : UInt64.max, verifyBy == nil ? finishAt : .max].min()!
            let timeout = Int32(min(1000, (next > now ? next - now : 0) / 1_000_000 + 1))
            var fds = [pollfd(fd: signals, events: Int16(POLLIN), revents: 0)]
            let reading = children.filter(\.isReading)
            fds += reading.map { pollfd(fd: $0.output, events: Int16(POLLIN), revents: 0) }
            guard poll(&fds, nfds_t(fds.count), timeout) > 0 else { continue }
            if fds[0].revents != 0 {
                interrupted = ProcessCalls.readSignal(signals) ?? SIGTERM
                return
            }
            for (child, fd) in zip(reading, fds.dropFirst()) where fd.revents != 0 {
                for line in child.readLines() { handle(line, from: child) }
            }
        }
    }

    /// Files a client's line: `status` and `filled` fields for the chart, `verified` for the summary;
    /// anything else is shown as it came.
    private mutating func handle(_ line: String, from child: DemoChild) {
        let words = line.split(separator: " ")
        var fields: [String: Int] = [:]
        for word in words.dropFirst() {
            let parts = word.split(separator: "=", maxSplits: 1)
            if parts.count == 2, let value = Int(parts[1]) { fields[String(parts[0])] = value }
        }
        switch words.first {
        case "status": status[child.name, default: [:]].merge(fields) { $1 }
        case "filled":
            status[child.name, default: [:]].merge(fields) { $1 }
            say.writeLine("  \(child.name) stored all \(fields["pages"] ?? 0) pages once: \(fields["tmem"] ?? 0) to the host, "
                + "\(fields["disk"] ?? 0) to its swap file")
        case "verified": verified[child.name] = fields
        default: say.writeLine("  \(child.name): \(line)")
        }
    }

    private func chart(seconds: Int, note: String?) {
        let snapshot = StatsSnapshot(host.statistics())
        let views = HostDemoCommand.clients.map { client in
            DemoClientView(name: client.name, weight: client.weight, snapshot: snapshot, status: status[client.name] ?? [:])
        }
        for line in HostDemoChart.lines(seconds: seconds, snapshot: snapshot, clients: views, scaleBytes: scale, note: note) {
            say.writeLine(line)
        }
    }

    /// Prints the host's table and one line per client, then the verdict.
    ///
    /// - Returns: Whether every client verified every page it stored, none differing and none lost.
    func summarize() -> Bool {
        say.writeLine("summary:" + (loweredFrom.map { " the capacity went from \(formatByteCount($0)) to \(formatByteCount(host.capacityBytes))" } ?? ""))
        var pages = 0, mismatched = 0, lost = 0, passed = true
        for child in children {
            let weight = HostDemoCommand.clients.first { $0.name == child.name }?.weight ?? 1
            guard let result = verified[child.name] else {
                say.writeLine("  \(child.name) (weight \(weight)): NO VERIFICATION REPORTED (\(child.ending))")
                passed = false
                continue
            }
            let (ok, bad, gone) = (result["pages"] ?? 0, result["mismatched"] ?? 0, result["lost"] ?? 0)
            pages += ok
            mismatched += bad
            lost += gone
            if bad > 0 || gone > 0 || child.exitCode != 0 { passed = false }
            say.writeLine("  \(child.name) (weight \(weight)): \(ok) pages verified byte for byte, \(bad) mismatched, \(gone) lost; "
                + "\(result["refused"] ?? 0) puts refused by the host, \(result["notices"] ?? 0) shrink notices, "
                + "\(result["repatriated"] ?? 0) pages repatriated to its swap file, \(result["disk"] ?? 0) stores to it"
                + (child.exitCode == 0 ? "" : " (\(child.ending))"))
        }
        say.writeLine(passed
            ? "every persistent byte of every client verified: \(pages) pages, 0 mismatched, 0 lost"
            : "VERIFICATION FAILED: \(pages) pages verified, \(mismatched) mismatched, \(lost) lost")
        return passed
    }
}
