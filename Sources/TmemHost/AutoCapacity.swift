/// How an automatic capacity (``CapacitySetting/auto(floorBytes:)``) follows the machine.
public struct AutoCapacityTuning: Sendable, Equatable {
    /// `MemAvailable` the host always leaves to the machine: this percent of `MemTotal`... (5)
    public var reservePercent: Int
    /// ...but at least this many bytes (256 MiB): the page cache and the other processes of a small
    /// machine need room to breathe, or the host's own growth causes the pressure it then reacts to.
    public var minimumReserveBytes: Int
    /// The memory pressure (PSI `some avg10`: the percent of the last 10 s in which some task waited for
    /// memory) above which the host gives memory back: 10. Lower reacts to noise, higher reacts late.
    public var pressureThreshold: Double
    /// Under pressure, each evaluation sets the capacity this percent below what the host holds: 10, so
    /// that a second of pressure asks for a tenth back (ephemeral pages first, then shrink notices),
    /// and sustained pressure keeps asking.
    public var pressureReleasePercent: Int
    /// A new value is taken only when it differs from the current one by more than this percent: 5.
    /// Without it the capacity, and with it every client's share and shrink target, would move with
    /// every page the machine's other processes touch.
    public var hysteresisPercent: Int

    /// Creates a tuning.
    public init(
        reservePercent: Int = 5, minimumReserveBytes: Int = 256 << 20, pressureThreshold: Double = 10,
        pressureReleasePercent: Int = 10, hysteresisPercent: Int = 5
    ) {
        self.reservePercent = reservePercent
        self.minimumReserveBytes = minimumReserveBytes
        self.pressureThreshold = pressureThreshold
        self.pressureReleasePercent = pressureReleasePercent
        self.hysteresisPercent = hysteresisPercent
    }

    func validate() throws(HostError) {
        guard (0...90).contains(reservePercent), minimumReserveBytes >= 0 else {
            throw .invalidSetting("the automatic capacity's reserve is 0...90% of RAM and a byte count")
        }
        guard pressureThreshold >= 0, (0...100).contains(pressureReleasePercent), (0...100).contains(hysteresisPercent)
        else { throw .invalidSetting("the automatic capacity's pressure threshold and percents are out of range") }
    }
}

/// The arithmetic of an automatic capacity: pure, so it is tested without a machine.
///
/// The host lends what it holds plus what the machine can spare: `target = held + (MemAvailable −
/// reserve)`. This is a feedback loop, not a prediction: as the host grows, `MemAvailable` falls by what
/// the pages really cost (compression, fragmentation, metadata all included), so the target settles
/// where `MemAvailable` equals the reserve; when other processes need memory, `MemAvailable` falls and
/// the target with it. Under memory pressure (PSI above the threshold) the target is also at most
/// `held` less the release percent, so the host gives memory back even when `MemAvailable` still looks
/// ample (pressure counts reclaim stalls `MemAvailable` does not show). The target never exceeds
/// `MemTotal` and never goes below the floor, and it is taken only when it differs from the current
/// capacity by more than the hysteresis percent.
public enum AutoCapacity {
    /// The next capacity.
    ///
    /// - Parameters:
    ///   - current: The capacity now (0 before the first evaluation: the target is then taken as is).
    ///   - held: What the host holds now, in charged bytes.
    ///   - memory: The machine's memory figures.
    ///   - floor: The least capacity.
    ///   - tuning: Reserve, pressure response and hysteresis.
    /// - Returns: The capacity to use: `current` when the change would be within the hysteresis.
    public static func evaluate(
        current: Int, held: Int, memory: MemorySnapshot, floor: Int, tuning: AutoCapacityTuning
    ) -> Int {
        let reserve = max(tuning.minimumReserveBytes, memory.totalBytes / 100 * tuning.reservePercent)
        var target = held + (memory.availableBytes - reserve)
        if let pressure = memory.pressureSomeAvg10, pressure > tuning.pressureThreshold {
            target = min(target, held - held / 100 * tuning.pressureReleasePercent)
        }
        target = max(min(target, memory.totalBytes), floor)
        guard current > 0 else { return target }
        let change = target > current ? target - current : current - target
        return change > current / 100 * tuning.hysteresisPercent ? target : current
    }
}
