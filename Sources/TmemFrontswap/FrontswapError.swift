import Tmem

/// An error from the frontswap frontend. Refusals by transcendent memory are not errors (see
/// ``StoreResult``); these are misuse (unknown area, offset out of range) and failures of the places a
/// page can live (the backing device, a damaged page in the backend).
///
/// Whatever the error, nothing already stored is lost and no stale page is ever returned afterwards.
public struct FrontswapError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case unknownArea, areaOutOfRange, offsetOutOfRange, sizeMismatch, deviceMismatch, invalidSize
        case device, backend, pageSize, lost, retryable
    }

    private let code: Code
    /// One line for people.
    public let message: String
    /// The device error underneath, for `.device` failures.
    public let deviceError: BackingDeviceError?

    private init(_ code: Code, _ message: String, device: BackingDeviceError? = nil) {
        self.code = code
        self.message = message
        self.deviceError = device
    }

    static func unknownArea(_ area: SwapArea) -> Self { .init(.unknownArea, "\(area) is not initialised") }
    static func areaOutOfRange(_ area: SwapArea, max: Int) -> Self {
        .init(.areaOutOfRange, "\(area) is out of range (areas are 0..<\(max))")
    }
    static func offsetOutOfRange(_ offset: PageOffset, _ area: SwapArea, pages: Int) -> Self {
        .init(.offsetOutOfRange, "\(offset) is out of range for \(area) (slots are 0..<\(pages))")
    }
    static func sizeMismatch(_ area: SwapArea, has: Int, asked: Int) -> Self {
        .init(.sizeMismatch, "\(area) already has \(has) pages; cannot initialise it with \(asked)")
    }
    static func invalidSize(_ area: SwapArea, pages: Int) -> Self {
        .init(.invalidSize, "\(area) cannot have \(pages) pages (1...\(UInt32.max))")
    }
    static func deviceTooSmall(_ area: SwapArea, slots: Int, pages: Int) -> Self {
        .init(.invalidSize, "the backing device of \(area) has \(slots) slots, fewer than its \(pages) pages")
    }
    static func deviceMismatch(_ area: SwapArea) -> Self {
        .init(.deviceMismatch, "\(area) is already initialised with another backing device")
    }
    static func device(_ error: BackingDeviceError) -> Self {
        .init(.device, "swap device: \(error.message)", device: error)
    }
    static func backend(_ error: TmemError, _ area: SwapArea, _ offset: PageOffset) -> Self {
        if error.isRetryable {
            return .init(.retryable, "transcendent memory cannot return \(offset) of \(area) now: \(error.message)")
        }
        return .init(.lost, "transcendent memory lost \(offset) of \(area): \(error.message)")
    }
    /// A frontend found nothing for a slot it had stored (a page lost earlier, or never stored).
    public static func lostOnLoad(_ area: SwapArea, _ offset: PageOffset) -> Self {
        .init(.lost, "\(offset) of \(area) holds no page: it was lost earlier")
    }
    static func missing(_ area: SwapArea, _ offset: PageOffset) -> Self {
        .init(.lost, "transcendent memory lost \(offset) of \(area): it no longer holds a page it had accepted")
    }
    static func poolCreation(_ error: TmemError, _ area: SwapArea) -> Self {
        .init(.backend, "transcendent memory has no pool for \(area): \(error.message)")
    }
    static func pageSize(_ count: Int) -> Self {
        .init(.pageSize, "a page is \(Tmem.pageSize) bytes, not \(count)")
    }

    /// True when the page of the slot is gone: transcendent memory lost it or found its copy damaged.
    /// The slot now holds nothing (a later load answers `.notStored`); the error is the only report of it.
    public var isPageLost: Bool { code == .lost }
    /// True when transcendent memory could not answer now (a timeout, an unreachable host): the slot
    /// still records the page, and the same call may succeed later.
    public var isRetryable: Bool { code == .retryable }
    /// True when the backing device failed (full disk, I/O error).
    public var isDeviceError: Bool { code == .device }
    /// True when the area, offset or size given was not valid.
    public var isInvalidArgument: Bool {
        [.unknownArea, .areaOutOfRange, .offsetOutOfRange, .sizeMismatch, .deviceMismatch, .invalidSize, .pageSize].contains(code)
    }

    public var description: String { message }
}
