import Tmem
import TmemZPool

extension Zcache {
    /// Runs `body` on the stored compressed object of `key` (nil if the key is absent or same-filled),
    /// with the key's shard locked: for tests that damage an object on purpose.
    func withStoredObject<R>(_ key: Key, _ body: (UnsafeMutableRawBufferPointer) -> R) -> R? {
        let place = locate(key)
        let bit = place.bit
        nonisolated(unsafe) var result: R?
        place.shard.state.withLock { state in
            guard let chunk = state.chunks[place.chunkKey], chunk.contains(bit), !chunk.isSameFilled(bit) else { return }
            let ref = ObjectRef(chunk.value(bit))
            zpool.withObject(ZPoolHandle(rawValue: ref.handle)) { object in
                result = body(UnsafeMutableRawBufferPointer(rebasing: object[0..<ref.length]))
            }
        }
        return result
    }
}
