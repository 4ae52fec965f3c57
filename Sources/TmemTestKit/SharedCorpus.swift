#if canImport(Glibc)
import Glibc
#endif

/// The path of the dev page corpus (`../shared/corpus/dev-pages.bin.zst` beside the package root, as on
/// developers' machines and in CI), or nil when it is not there. Tests that need it are gated on it.
public func sharedCorpusPath() -> String? {
    // This file is <root>/Sources/TmemTestKit/SharedCorpus.swift.
    var root = "\(#filePath)"
    for _ in 0..<3 { root = String(root[..<(root.lastIndex(of: "/") ?? root.startIndex)]) }
    let path = root + "/../shared/corpus/dev-pages.bin.zst"
    return access(path, R_OK) == 0 ? path : nil
}
