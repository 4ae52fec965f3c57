/// An error from the host's setup or configuration: a setting that does not parse or is out of range,
/// memory figures the host cannot read, storage it cannot set up. Never a refusal: a refused put is a
/// ``HostStatus``.
///
/// A struct with a private code so that new kinds of failure do not break the API (STYLE §4).
public struct HostError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case invalidSetting
        case memoryUnavailable
        case storage
    }

    private let code: Code
    /// A one-line explanation for people, naming the setting and what was wrong with it.
    public let message: String

    private init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// A setting (capacity, client policy, configuration value) does not parse or is out of range.
    public static func invalidSetting(_ message: String) -> HostError { HostError(.invalidSetting, message) }
    /// The machine's memory figures could not be read (no `/proc/meminfo`, or no `MemAvailable` in it).
    public static func memoryUnavailable(_ message: String) -> HostError { HostError(.memoryUnavailable, message) }
    /// The page store could not be set up (the allocator's arena could not be reserved).
    public static func storage(_ message: String) -> HostError { HostError(.storage, message) }

    /// True for a setting that does not parse or is out of range: fix the command line or request.
    public var isInvalidSetting: Bool { code == .invalidSetting }
    /// True when the memory figures could not be read.
    public var isMemoryUnavailable: Bool { code == .memoryUnavailable }
    /// True when the page store could not be set up.
    public var isStorage: Bool { code == .storage }

    public var description: String { message }
}
