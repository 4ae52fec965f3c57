import Synchronization
import Tmem
import TmemTestKit

/// A page that names itself: its first 8 bytes are `tag`, the next 8 `~tag`, the rest a page of `kind`
/// drawn from a generator seeded by the test's seed and the tag. The same (tag, seed) always gives the
/// same bytes, so a test can check a page without keeping a copy, and a page returned under the wrong
/// key, or an older page, shows.
func taggedPage(_ tag: UInt64, seed: UInt64, kind: PageKind = .textLike) -> [UInt8] {
    var rng = SeededGenerator(seed: seed &+ tag &* 0x9E37_79B9_7F4A_7C15)
    var bytes = kind.makePage(using: &rng)
    withUnsafeBytes(of: tag.littleEndian) { for (i, b) in $0.enumerated() { bytes[i] = b } }
    withUnsafeBytes(of: (~tag).littleEndian) { for (i, b) in $0.enumerated() { bytes[8 + i] = b } }
    return bytes
}

extension Backend {
    /// Puts `bytes` under `key`.
    func put(_ key: Key, _ bytes: [UInt8]) -> PutResult { bytes.withUnsafeBytes { put(key, page: $0) } }

    /// The page under `key`, or nil on a miss.
    func page(_ key: Key) throws(TmemError) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0xEE, count: pageSize)
        var failure: TmemError?
        let hit = bytes.withUnsafeMutableBytes { raw -> Bool in
            do throws(TmemError) { return try get(key, into: raw) } catch {
                failure = error
                return false
            }
        }
        if let failure { throw failure }
        return hit ? bytes : nil
    }
}

/// A key from raw numbers.
func key(_ pool: PoolID, _ object: UInt64, _ index: UInt32) -> Key {
    Key(pool: pool, object: ObjectID(rawValue: object), index: PageIndex(rawValue: index))
}

/// A value shared by the threads of one test, behind a lock (a class, so that `@Sendable` closures can
/// capture it: a `Mutex` itself cannot be copied into one).
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R { try mutex.withLock { try body(&$0) } }
    var value: Value { mutex.withLock { $0 } }
}

/// Runs `body` with pointers to copies of `pages`, the form a batch put takes.
func withPagePointers<R>(_ pages: [[UInt8]], _ body: (UnsafeBufferPointer<UnsafeRawPointer>) throws -> R) rethrows -> R {
    let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, pages.count) * pageSize, alignment: 16)
    defer { storage.deallocate() }
    for (i, page) in pages.enumerated() {
        page.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: storage[(i * pageSize)..<((i + 1) * pageSize)]).copyMemory(from: $0) }
    }
    let pointers = pages.indices.map { UnsafeRawPointer(storage.baseAddress! + $0 * pageSize) }
    return try pointers.withUnsafeBufferPointer(body)
}
