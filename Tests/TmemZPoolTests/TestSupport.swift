import Glibc
import TmemTestKit
import TmemZPool

/// The byte at `index` of an object whose content is keyed by `key`.
@inline(__always)
func patternByte(key: UInt64, index: Int) -> UInt8 {
    let mixed = (key &+ UInt64(index) &* 0x9E37_79B9) &* 0xD6E8_FEB8_6659_FD93
    return UInt8(truncatingIfNeeded: mixed >> 32)
}

/// Fills the whole object slot (every byte `withObject` hands out) with the pattern for `key`.
func fill(_ pool: ZPool, _ handle: ZPoolHandle, key: UInt64) {
    pool.withObject(handle) { buffer in
        for index in buffer.indices { buffer[index] = patternByte(key: key, index: index) }
    }
}

/// Whether the whole object slot still holds the pattern for `key`.
func holds(_ pool: ZPool, _ handle: ZPoolHandle, key: UInt64) -> Bool {
    pool.withObject(handle) { buffer in
        buffer.indices.allSatisfy { buffer[$0] == patternByte(key: key, index: $0) }
    }
}

/// Runs the pool's invariant checks when the module was built with `TMEM_INTERNAL_CHECKS`.
func checkInvariantsIfCompiledIn(_ pool: ZPool) {
    #if TMEM_INTERNAL_CHECKS
    pool.checkInvariants()
    #endif
}

/// What the model believes about one live object.
struct ModelObject {
    var size: Int
    var key: UInt64
}

/// Whether this build has the invariant checks (`-D TMEM_INTERNAL_CHECKS`, as `.ci/run` builds them).
let invariantChecksCompiledIn: Bool = {
    #if TMEM_INTERNAL_CHECKS
    return true
    #else
    return false
    #endif
}()
