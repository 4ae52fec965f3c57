#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

import Tmem

/// A fresh directory under `$TMPDIR` (or /tmp), removed with everything in it when this goes away:
/// where `tmem replay` and the demos put their temporary swap files, and tests their real ones.
///
/// Only the files directly inside it are removed (swap files, traces); a subdirectory is left, and then
/// so is the directory itself. The one implementation for the CLI and the tests: it lives beside
/// ``SwapFile`` because swap files are what it holds.
public final class TemporaryDirectory: Sendable {
    /// The directory's absolute path.
    public let path: String

    /// Creates the directory.
    ///
    /// - Parameters:
    ///   - prefix: The start of its name, for people reading /tmp.
    ///   - parent: The directory to make it in; nil: `$TMPDIR`, else /tmp. (A test that needs a particular
    ///     file system, such as one that supports `O_DIRECT`, names it here.)
    /// - Throws: ``BackingDeviceError`` with the `errno` of `mkdtemp` when it cannot be made (no such
    ///   parent, a full or read-only disk).
    public init(making prefix: String, in parent: String? = nil) throws(BackingDeviceError) {
        let base = parent ?? environmentValue("TMPDIR") ?? "/tmp"
        var template = Array("\(base)/\(prefix)-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            let code = Errno.current
            throw BackingDeviceError(
                errno: code, message: "cannot make a temporary directory in \(base): \(describeErrno(code.rawValue))")
        }
        path = String(cString: made)
    }

    /// Creates the directory, or traps if it cannot (for tests, where that ends the run anyway).
    ///
    /// - Parameters:
    ///   - prefix: The start of its name, for people reading /tmp.
    ///   - parent: The directory to make it in; nil: `$TMPDIR`, else /tmp.
    public convenience init(prefix: String = "tmem-test", in parent: String? = nil) {
        do { try self.init(making: prefix, in: parent) } catch { preconditionFailure(error.message) }
    }

    /// A path inside the directory (the file is not created).
    ///
    /// - Parameter name: A file name, without `/`.
    /// - Returns: `path/name`.
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
