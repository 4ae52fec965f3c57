#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

import Tmem

/// A fresh directory under `$TMPDIR` (or /tmp), removed with everything in it when this goes away:
/// where `tmem replay` and the demos put their temporary swap files, and tests their real ones.
public final class TemporaryDirectory: Sendable {
    /// The directory's absolute path.
    public let path: String

    /// Creates the directory.
    ///
    /// - Parameter prefix: The start of its name, for people reading /tmp.
    /// - Throws: ``ReplayError`` when it cannot be made (no such `$TMPDIR`, a full or read-only disk).
    public init(making prefix: String) throws(ReplayError) {
        let base = environmentValue("TMPDIR") ?? "/tmp"
        var template = Array("\(base)/\(prefix)-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw .input("cannot make a temporary directory in \(base): \(describeErrno(errno))")
        }
        path = String(cString: made)
    }

    /// Creates the directory, or traps if it cannot (for tests, where that ends the run anyway).
    ///
    /// - Parameter prefix: The start of its name, for people reading /tmp.
    public convenience init(prefix: String = "tmem-test") {
        do { try self.init(making: prefix) } catch { preconditionFailure(error.message) }
    }

    /// A path inside the directory.
    public func file(_ name: String) -> String { "\(path)/\(name)" }

    deinit {
        guard let dir = opendir(path) else { return }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { unlink("\(path)/\(name)") }
        }
        closedir(dir)
        rmdir(path)
    }
}
