import Tmem

/// How much memory the host lends: a fixed size, a part of the machine's RAM, or whatever the machine
/// can spare, following its free memory and memory pressure.
///
/// The capacity counts memory as the host charges clients for it (stored bytes plus a per-page charge,
/// ``HostConfiguration/pageChargeBytes(storedBytes:pages:)``), the unit of every share and cap.
public enum CapacitySetting: Sendable, Equatable, CustomStringConvertible {
    /// A fixed number of bytes.
    case bytes(Int)
    /// A percent (1...100) of the machine's RAM (`MemTotal`), read when the setting is applied.
    case percentOfRAM(Int)
    /// Follows the machine: what the host holds plus what `MemAvailable` can spare beyond a reserve,
    /// less under memory pressure, never below `floorBytes` (see ``AutoCapacity``). Re-evaluated by every
    /// ``Host/tick(nowNanoseconds:)``.
    case auto(floorBytes: Int)

    /// The floor of a plain `auto`: 64 MiB, enough for a few clients' working sets and small enough for
    /// any machine that runs a host at all.
    public static let defaultAutoFloor = 64 << 20

    public var description: String {
        switch self {
        case .bytes(let bytes): "\(bytes)"
        case .percentOfRAM(let percent): "\(percent)%"
        case .auto(let floor): "auto:\(floor)"
        }
    }

    /// Parses a capacity as people write it: `512MiB`, `2GiB`, `123456` (bytes, see
    /// ``parseByteCount(_:)``), `25%` (of RAM), `auto` (with the default floor) or `auto:1GiB` (with a floor).
    ///
    /// - Parameter text: The setting.
    /// - Returns: The setting.
    /// - Throws: ``HostError`` (invalid setting) saying what the accepted forms are.
    public static func parse(_ text: String) throws(HostError) -> CapacitySetting {
        if text == "auto" { return .auto(floorBytes: defaultAutoFloor) }
        if text.hasPrefix("auto:") {
            guard let floor = parseByteCount(String(text.dropFirst(5))) else {
                throw .invalidSetting("'\(text)': the floor of auto is a size, as in auto:1GiB")
            }
            return .auto(floorBytes: floor)
        }
        if text.hasSuffix("%") {
            guard let percent = Int(text.dropLast()), (1...100).contains(percent) else {
                throw .invalidSetting("'\(text)': a capacity in percent of RAM is 1% to 100%")
            }
            return .percentOfRAM(percent)
        }
        guard let bytes = parseByteCount(text) else {
            throw .invalidSetting("'\(text)': a capacity is a size (512MiB, 2GiB, 123456), a percent of RAM (25%) or auto")
        }
        return .bytes(bytes)
    }

    /// Checks the values a setting built in code carries.
    ///
    /// - Throws: ``HostError`` (invalid setting) for a negative size or floor, or a percent outside 1...100.
    func validate() throws(HostError) {
        switch self {
        case .bytes(let bytes) where bytes < 0:
            throw .invalidSetting("a capacity is a byte count, not \(bytes)")
        case .percentOfRAM(let percent) where !(1...100).contains(percent):
            throw .invalidSetting("a capacity in percent of RAM is 1...100, not \(percent)")
        case .auto(let floor) where floor < 0:
            throw .invalidSetting("the floor of an automatic capacity is a byte count, not \(floor)")
        default:
            break
        }
    }
}
