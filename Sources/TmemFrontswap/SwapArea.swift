/// A swap area ("type" in the kernel's frontswap API): one backing device with a fixed number of slots.
public struct SwapArea: RawRepresentable, Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: Int
    /// Wraps an area number; ``Frontswap`` accepts 0..<``Frontswap/Configuration/maxAreas``.
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// Wraps an area number.
    public init(_ rawValue: Int) { self.rawValue = rawValue }
    public static func < (a: SwapArea, b: SwapArea) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "area \(rawValue)" }
}

/// A slot of a swap area: page offsets run 0..<pages.
public struct PageOffset: RawRepresentable, Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: Int
    /// Wraps a slot number.
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// Wraps a slot number.
    public init(_ rawValue: Int) { self.rawValue = rawValue }
    public static func < (a: PageOffset, b: PageOffset) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "offset \(rawValue)" }
}
