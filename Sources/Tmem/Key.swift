/// Names a pool within a backend. Handed out by ``Backend/createPool(_:)``; never reused while the pool lives.
public struct PoolID: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    /// Wraps a raw pool number (a backend's own numbering, or one received over the wire).
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public var description: String { "pool \(rawValue)" }
}

/// Names an object within a pool: a group of pages such as one swap area or one file.
public struct ObjectID: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64
    /// Wraps a raw object id (an inode number, a swap area's object number...).
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public var description: String { "object \(rawValue)" }
}

/// The index of a page within its object.
public struct PageIndex: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    /// Wraps a raw page index.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public var description: String { "index \(rawValue)" }
}

/// The name of one page in transcendent memory: (pool, object, index), as in Xen's tmem and the
/// kernel's cleancache/frontswap glue.
///
/// A key is 16 bytes and hashes cheaply; backends that hold millions of pages keep their own, more
/// compact, encoding of it.
public struct Key: Hashable, Sendable, CustomStringConvertible {
    /// The pool the page belongs to.
    public var pool: PoolID
    /// The object (file, swap area) within the pool.
    public var object: ObjectID
    /// The page's index within the object.
    public var index: PageIndex

    /// Creates a key from its three parts.
    public init(pool: PoolID, object: ObjectID, index: PageIndex) {
        self.pool = pool
        self.object = object
        self.index = index
    }

    public var description: String { "(\(pool.rawValue), \(object.rawValue), \(index.rawValue))" }
}

/// Whether a pool keeps what it was given.
public enum PoolKind: String, Sendable, CaseIterable, CustomStringConvertible {
    /// What was put stays until it is flushed or overwritten (frontswap's pools). A get of a stored key
    /// always returns exactly the bytes of the last successful put.
    case persistent
    /// What was put may disappear at any time without notice (cleancache's pools). A get may miss, but it
    /// never returns bytes older than the last put or flush of that key.
    case ephemeral

    public var description: String { rawValue }
}
