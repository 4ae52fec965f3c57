#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Tmem

/// A real file of page slots: the backing device behind a frontswap area. Slot `s` is the 4096 bytes
/// at file offset `s * 4096`, read and written with `pread`/`pwrite` (optionally `O_DIRECT`, bypassing
/// the page cache as a swap device does).
///
/// What it accepts, as `swapon` does: a regular file (created if missing, sized to the slot count with
/// `ftruncate`: sparse, unwritten slots take no disk space) or a block device (used as it is, and at
/// least `slots` pages long, read with `BLKGETSIZE64`). Anything else (a character device such as
/// /dev/zero or /dev/full, a directory, a pipe) is refused before it is opened. The opened file is
/// locked (`flock(LOCK_EX | LOCK_NB)`), so a second `SwapFile` on the same file, in this process or
/// another, is refused (`EBUSY`) instead of storing into the same slots.
///
/// An existing non-empty regular file is someone's data: it is refused (`EEXIST`) unless it carries the
/// mark `SwapFile` sets on the files it accepts (the extended attribute ``markAttribute``; on a file
/// system without user xattrs files are simply not marked) or the caller says so
/// (``Options/allowExistingData``). Errors (a full disk, an unwritable path, an I/O error) are thrown as
/// ``BackingDeviceError`` with the `errno` and a message naming the path and slot; a write that did not
/// complete is never reported as done.
///
/// Thread safety: reads and writes of distinct slots may run on any number of threads at once.
///
/// Caveats: with `O_DIRECT`, the file system must support it (tmpfs before Linux 6.6 does not: opening
/// fails with a clear error), and every transfer goes through an aligned bounce buffer when the caller's
/// is not aligned. The lock keeps out other `SwapFile`s (and any program that takes `flock` locks), not a
/// program that writes the file without asking.
public final class SwapFile: BackingDevice {
    /// How to open the file.
    public struct Options: Sendable {
        /// Open with `O_DIRECT`, so transfers bypass the page cache.
        public var directIO: Bool
        /// Remove the file's name as soon as it is open and locked, keeping the open descriptor: the file
        /// then cannot outlive the process, however it ends (SIGKILL included). A block device's name is
        /// never removed.
        public var removeOnClose: Bool
        /// Accept an existing non-empty regular file that carries no tmem mark, overwriting its contents.
        public var allowExistingData: Bool
        /// Creates options.
        ///
        /// - Parameters:
        ///   - directIO: Bypass the page cache.
        ///   - removeOnClose: Unlink the path at once after opening it.
        ///   - allowExistingData: Overwrite an existing unmarked file's data.
        public init(directIO: Bool = false, removeOnClose: Bool = false, allowExistingData: Bool = false) {
            self.directIO = directIO
            self.removeOnClose = removeOnClose
            self.allowExistingData = allowExistingData
        }
    }

    /// The extended attribute set on every regular file a `SwapFile` accepts (`user.tmem.swap`): a file
    /// that carries it may be reused without ``Options/allowExistingData``.
    public static let markAttribute = "user.tmem.swap"

    /// The path the file was opened at (for a ``temporary(in:slots:directIO:)`` file, a description
    /// naming its directory). Error messages name it.
    public let path: String
    public let slotCount: Int
    let fd: Int32
    let directIO: Bool

    /// Wraps an open, locked, sized descriptor; the object owns it from now on.
    init(adopting fd: Int32, path: String, slots: Int, directIO: Bool) {
        self.fd = fd
        self.path = path
        self.slotCount = slots
        self.directIO = directIO
    }

    /// Opens (creating if needed) a swap file of `slots` page slots, and locks it.
    ///
    /// - Parameters:
    ///   - path: A regular file (created, then sized with `ftruncate`) or an existing block device of at
    ///     least `slots` pages (used as it is).
    ///   - slots: The slot count, at least 1.
    ///   - options: Direct I/O, removal of the name, and whether unmarked data may be overwritten.
    /// - Throws: ``BackingDeviceError`` naming the path and the reason: `ENOTBLK` or `EISDIR` for a path that
    ///   is neither a regular file nor a block device; `EBUSY` when another `SwapFile` holds it; `EEXIST`
    ///   for an unmarked non-empty file without ``Options/allowExistingData``; `ENOSPC` for a block device
    ///   smaller than `slots` pages; else the `errno` of the open, stat or `ftruncate` that failed.
    public convenience init(path: String, slots: Int, options: Options = .init()) throws(BackingDeviceError) {
        precondition(slots > 0, "a swap file has at least one slot")
        let fd = try SwapFile.openChecked(path: path, slots: slots, options: options)
        self.init(adopting: fd, path: path, slots: slots, directIO: options.directIO)
    }

    deinit { close(fd) }

    public func write(slot: Int, page: UnsafeRawBufferPointer) throws(BackingDeviceError) {
        try check(slot, page.count, "writing")
        try withAlignedSource(page) { (source: UnsafeRawPointer) throws(BackingDeviceError) in
            try transfer(slot, "writing") { offset, done in pwrite(fd, source + done, 4096 - done, offset) }
        }
    }

    public func read(slot: Int, into page: UnsafeMutableRawBufferPointer) throws(BackingDeviceError) {
        try check(slot, page.count, "reading")
        if !directIO || Int(bitPattern: page.baseAddress) % 4096 == 0 {
            let target = page.baseAddress!
            try transfer(slot, "reading") { offset, done in pread(fd, target + done, 4096 - done, offset) }
            return
        }
        let bounce = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 4096)
        defer { bounce.deallocate() }
        try transfer(slot, "reading") { offset, done in pread(fd, bounce.baseAddress! + done, 4096 - done, offset) }
        page.copyMemory(from: UnsafeRawBufferPointer(bounce))
    }

    /// Flushes written pages to stable storage (`fdatasync`). Swap does not need this for correctness
    /// within one process; it is for callers that want the file to survive a crash.
    ///
    /// - Throws: ``BackingDeviceError`` if the sync fails (an earlier write's I/O error surfaces here).
    public func sync() throws(BackingDeviceError) {
        if case .failure(let code) = valueOrErrno({ fdatasync(fd) }) {
            throw BackingDeviceError(errno: code, message: "syncing \(path): \(describeErrno(code.rawValue))")
        }
    }

    private func check(_ slot: Int, _ count: Int, _ verb: String) throws(BackingDeviceError) {
        guard (0..<slotCount).contains(slot) else {
            throw BackingDeviceError(
                errno: .invalidArgument, message: "\(verb) slot \(slot) of \(path): out of range (0..<\(slotCount))")
        }
        precondition(count == 4096, "a page is 4096 bytes")
    }

    private func withAlignedSource(
        _ page: UnsafeRawBufferPointer, _ body: (UnsafeRawPointer) throws(BackingDeviceError) -> Void
    ) throws(BackingDeviceError) {
        if !directIO || Int(bitPattern: page.baseAddress) % 4096 == 0 {
            try body(page.baseAddress!)
            return
        }
        let bounce = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 4096)
        defer { bounce.deallocate() }
        bounce.copyMemory(from: page)
        try body(UnsafeRawPointer(bounce.baseAddress!))
    }

    /// Runs a pread/pwrite loop for one slot: retries EINTR and short transfers; a transfer of 0 bytes
    /// (end of a device, or a disk that takes no more) is an error, not success.
    private func transfer(
        _ slot: Int, _ verb: String, _ call: (_ offset: off_t, _ done: Int) -> Int
    ) throws(BackingDeviceError) {
        var done = 0
        while done < 4096 {
            let code: Errno
            switch valueOrErrno({ call(off_t(slot) * 4096 + off_t(done), done) }) {
            case .success(let n) where n > 0:
                done += n
                continue
            case .success: code = verb == "writing" ? .noSpace : .io
            case .failure(let failure): code = failure
            }
            throw BackingDeviceError(
                errno: code, message: "\(verb) slot \(slot) of \(path): \(describeErrno(code.rawValue))")
        }
    }
}
