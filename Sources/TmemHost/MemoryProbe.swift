#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The machine's memory figures at one moment, as `/proc` gives them.
public struct MemorySnapshot: Sendable, Equatable {
    /// `MemTotal`: the RAM the kernel manages, in bytes.
    public var totalBytes: Int
    /// `MemAvailable`: what could be given to new allocations without swapping, in bytes.
    public var availableBytes: Int
    /// `some avg10` of `/proc/pressure/memory`: the percent (0...100) of the last 10 seconds in which
    /// at least one task stalled on memory; nil where the kernel has no PSI.
    public var pressureSomeAvg10: Double?

    /// Creates a snapshot.
    public init(totalBytes: Int, availableBytes: Int, pressureSomeAvg10: Double? = nil) {
        self.totalBytes = totalBytes
        self.availableBytes = availableBytes
        self.pressureSomeAvg10 = pressureSomeAvg10
    }
}

/// Where the host reads the machine's memory figures: the real `/proc` (``system``) or a stand-in that
/// tests drive by hand (``init(_:)``).
///
/// Thread safety: the host calls it from whichever thread calls ``Host/tick(nowNanoseconds:)`` or
/// ``Host/setCapacity(_:)``; a stand-in must be callable from any thread.
public struct MemoryProbe: Sendable {
    private let reader: @Sendable () -> MemorySnapshot?

    /// A probe that answers with `read`.
    ///
    /// - Parameter read: Returns the figures now, or nil when they cannot be read.
    public init(_ read: @escaping @Sendable () -> MemorySnapshot?) { reader = read }

    /// The figures now, or nil when they cannot be read.
    public func snapshot() -> MemorySnapshot? { reader() }

    /// A probe that always gives the same figures.
    public static func fixed(_ snapshot: MemorySnapshot) -> MemoryProbe { MemoryProbe { snapshot } }

    /// The machine's own figures: `MemTotal` and `MemAvailable` of `/proc/meminfo`, and `some avg10` of
    /// `/proc/pressure/memory` when the kernel has PSI. Two small reads of about 10 µs each.
    public static let system = MemoryProbe {
        guard let meminfo = readSmallFile("/proc/meminfo"), let (total, available) = parseMeminfo(meminfo) else {
            return nil
        }
        let pressure = readSmallFile("/proc/pressure/memory").flatMap(parsePressure)
        return MemorySnapshot(totalBytes: total, availableBytes: available, pressureSomeAvg10: pressure)
    }

    /// `MemTotal` and `MemAvailable` of a `/proc/meminfo` text, in bytes.
    ///
    /// - Parameter text: Lines such as `MemTotal:       16318976 kB`.
    /// - Returns: Both figures, or nil if either is missing or malformed.
    static func parseMeminfo(_ text: String) -> (total: Int, available: Int)? {
        var total: Int?, available: Int?
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, let value = Int(fields[1]) else { continue }
            let unit = fields.count >= 3 && fields[2] == "kB" ? 1024 : 1
            switch fields[0] {
            case "MemTotal:": total = value * unit
            case "MemAvailable:": available = value * unit
            default: continue
            }
        }
        guard let total, let available else { return nil }
        return (total, available)
    }

    /// `some avg10` of a `/proc/pressure/memory` text.
    ///
    /// - Parameter text: Such as `some avg10=1.52 avg60=0.40 avg300=0.10 total=123456`.
    /// - Returns: The percent, or nil if the line is missing or malformed.
    static func parsePressure(_ text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix("some ") {
            for field in line.split(separator: " ") where field.hasPrefix("avg10=") {
                return Double(field.dropFirst(6))
            }
        }
        return nil
    }

    /// The text of a small file (a `/proc` file: at most 64 KiB are read), or nil if it cannot be read.
    private static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 65536 {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            bytes.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
