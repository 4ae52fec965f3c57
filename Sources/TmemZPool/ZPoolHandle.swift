/// An opaque reference to one object in a ``ZPool``; mirrors zsmalloc's `unsigned long handle`.
///
/// A handle is not a pointer. Map the object's bytes with ``ZPool/withObject(_:_:)`` for the length of one
/// closure, and give the handle back with ``ZPool/free(_:)``. A handle stays valid until it is freed or until
/// ``ZPool/compact(relocate:)`` reports it as the `old` side of a move.
///
/// ## Bit layout
///
/// ```
///  31                                   8 7            0
/// +--------------------------------------+--------------+
/// |   span index (24 bits)               | object + 1   |
/// +--------------------------------------+--------------+
/// ```
///
/// - The span index selects a 64 KiB stride of the pool's arena, so the address of an object is
///   `base + span << 16 + object * objectSize`: pure arithmetic, no table behind a lock.
/// - The low byte holds the object's index inside its span plus one (1...255). It is never 0, so a valid
///   handle's `rawValue` is never 0 and callers may use 0 to mean "no handle".
///
/// Limits this implies: at most 2^24 spans, hence a 2^24 × 64 KiB = 1 TiB arena
/// (``ZPool/Configuration/maxPoolBytes``), and at most 255 objects per span (the geometry of the smallest
/// classes is capped accordingly; see ``ZPool``'s Implementation Notes).
///
/// The requested size of an object is not part of the handle: compaction moves objects without knowing
/// their owners, so a handle must be rebuildable from the object's position alone.
public struct ZPoolHandle: Hashable, Sendable, CustomStringConvertible {
    /// The packed span and object index. Opaque to callers except that it is never 0 for a handle that
    /// ``ZPool/allocate(size:)`` returned.
    public let rawValue: UInt32

    /// Rebuilds a handle from a value previously read from ``rawValue`` (for example, one kept in a
    /// compact entry of 32 bits).
    ///
    /// - Parameter rawValue: A value obtained from ``rawValue`` of a handle this pool returned.
    public init(rawValue: UInt32) {
        self.rawValue = rawValue
    }

    /// Bits of `rawValue` below the span index.
    static let objectBits: UInt32 = 8

    /// The largest number of spans a handle can name (2^24).
    static let maxSpans = 1 << (32 - Int(objectBits))

    /// The largest number of objects a span may hold: object indices 0...254, stored as 1...255.
    static let maxObjectsPerSpan = 255

    init(span: UInt32, object: Int) {
        self.rawValue = span << Self.objectBits | UInt32(object + 1)
    }

    /// The span this handle points into.
    var spanIndex: UInt32 { rawValue >> Self.objectBits }

    /// The object's index inside its span; -1 for a forged handle whose low byte is 0.
    var objectIndex: Int { Int(rawValue & 0xFF) - 1 }

    /// A debugging rendering such as `ZPoolHandle(span: 3, object: 17)`.
    public var description: String {
        "ZPoolHandle(span: \(spanIndex), object: \(objectIndex))"
    }
}
