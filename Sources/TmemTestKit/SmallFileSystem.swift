#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import TmemSwapFile

/// A tmpfs of a few pages mounted on a fresh directory (root only): a real file system that fills up,
/// for tests of full disks (a character device such as /dev/full is refused as a swap file).
public final class SmallFileSystem {
    /// Where it is mounted.
    public let directory = TemporaryDirectory(prefix: "tmem-test-tmpfs")

    /// Mounts it; nil if the mount is refused (not root, no tmpfs).
    public init?(bytes: Int) {
        guard mount("tmpfs", directory.path, "tmpfs", 0, "size=\(bytes)") == 0 else { return nil }
    }

    /// Writes a filler file until the file system says it is full.
    public func fill() {
        let fd = open(directory.file("filler"), O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        precondition(fd >= 0, "cannot create the filler file")
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0x55, count: 4096)
        while chunk.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) > 0 {}
    }

    /// Detaches the mount (lazily: files still open on it keep it until they close).
    public func unmount() { umount2(directory.path, Int32(MNT_DETACH)) }
}

