import Tmem
import TmemZPool

extension Zcache {
    /// Runs `body` on the stored compressed object of `key` (nil if the key is absent or same-filled),
    /// with the key's shard locked: for tests that damage an object on purpose.
    func withStoredObject<R>(_ key: Key, _ body: (UnsafeMutableRawBufferPointer) -> R) -> R? {
        let index = key.index.rawValue
        let chunkKey = ChunkKey(pool: key.pool.rawValue, base: index & ~63, object: key.object.rawValue)
        let bit = Int(index & 63)
        nonisolated(unsafe) var result: R?
        shard(pool: key.pool.rawValue, object: key.object.rawValue, index: index).state.withLock { state in
            guard let chunk = state.chunks[chunkKey], chunk.contains(bit), !chunk.isSameFilled(bit) else { return }
            let ref = ObjectRef(chunk.value(bit))
            zpool.withObject(ZPoolHandle(rawValue: ref.handle)) { object in
                result = body(UnsafeMutableRawBufferPointer(rebasing: object[0..<ref.length]))
            }
        }
        return result
    }
}
