#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Tmem

/// `O_DIRECT`, which Glibc's module map hides without `_GNU_SOURCE` (values from the kernel's
/// `asm-generic/fcntl.h` and the arm64 override).
#if arch(arm64) || arch(arm)
let openDirectFlag: Int32 = 0o200000
#else
let openDirectFlag: Int32 = 0o40000
#endif

/// A real file of page slots: the backing device behind a frontswap area. Slot `s` is the 4096 bytes
/// at file offset `s * 4096`, read and written with `pread`/`pwrite` (optionally `O_DIRECT`, bypassing
/// the page cache as a swap device does).
///
/// A regular file is created if missing and sized to the slot count with `ftruncate` (sparse: unwritten
/// slots take no disk space). An existing block or character device is used as it is, and must be large
/// enough. Errors (a full disk, an unwritable path, an I/O error) are thrown as ``BackingDeviceError``
/// with the `errno` and a message naming the path and slot; a write that did not complete is never
/// reported as done.
///
/// Thread safety: reads and writes of distinct slots may run on any number of threads at once.
///
/// Caveats: with `O_DIRECT`, the file system must support it (tmpfs does not: opening fails with a clear
/// error), and every transfer goes through an aligned bounce buffer when the caller's is not aligned.
public final class SwapFile: BackingDevice {
    /// How to open the file.
    public struct Options: Sendable {
        /// Open with `O_DIRECT`, so transfers bypass the page cache.
        public var directIO: Bool
        /// Remove the file when this object goes away (for temporary swap files).
        public var removeOnClose: Bool
        /// Creates options.
        ///
        /// - Parameters:
        ///   - directIO: Bypass the page cache.
        ///   - removeOnClose: Unlink the path in deinit.
        public init(directIO: Bool = false, removeOnClose: Bool = false) {
            self.directIO = directIO
            self.removeOnClose = removeOnClose
        }
    }

    /// The path the file was opened at.
    public let path: String
    public let slotCount: Int
    private let fd: Int32
    private let options: Options

    /// Opens (creating if needed) a swap file of `slots` page slots.
    ///
    /// - Parameters:
    ///   - path: A regular file (created, then sized with `ftruncate`) or an existing block or character
    ///     device (used as it is).
    ///   - slots: The slot count, at least 1.
    ///   - options: Direct I/O and removal on close.
    /// - Throws: ``BackingDeviceError`` if the file cannot be opened, created or sized, naming the path
    ///   and the reason (`errno`).
    public init(path: String, slots: Int, options: Options = .init()) throws(BackingDeviceError) {
        precondition(slots > 0, "a swap file has at least one slot")
        self.path = path
        self.slotCount = slots
        self.options = options
        var flags = O_RDWR | O_CREAT | O_CLOEXEC
        if options.directIO { flags |= openDirectFlag }
        let fd: Int32
        switch valueOrErrno({ open(path, flags, 0o600) }) {
        case .success(let opened): fd = opened
        case .failure(let code):
            throw BackingDeviceError(errno: code, message: "cannot open swap file \(path): \(describeErrno(code.rawValue))")
        }
        var info = stat()
        if case .failure(let code) = valueOrErrno({ fstat(fd, &info) }) {
            close(fd)
            throw BackingDeviceError(errno: code, message: "cannot stat swap file \(path): \(describeErrno(code.rawValue))")
        }
        if info.st_mode & S_IFMT == S_IFREG {
            let size = off_t(slots) * off_t(4096)
            if info.st_size < size, case .failure(let code) = valueOrErrno({ ftruncate(fd, size) }) {
                close(fd)
                throw BackingDeviceError(
                    errno: code,
                    message: "cannot size swap file \(path) to \(slots) pages: \(describeErrno(code.rawValue))")
            }
        }
        self.fd = fd
    }

    deinit {
        close(fd)
        if options.removeOnClose { unlink(path) }
    }

    public func write(slot: Int, page: UnsafeRawBufferPointer) throws(BackingDeviceError) {
        try check(slot, page.count, "writing")
        try withAlignedSource(page) { (source: UnsafeRawPointer) throws(BackingDeviceError) in
            try transfer(slot, "writing") { offset, done in pwrite(fd, source + done, 4096 - done, offset) }
        }
    }

    public func read(slot: Int, into page: UnsafeMutableRawBufferPointer) throws(BackingDeviceError) {
        try check(slot, page.count, "reading")
        if !options.directIO || Int(bitPattern: page.baseAddress) % 4096 == 0 {
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
        if !options.directIO || Int(bitPattern: page.baseAddress) % 4096 == 0 {
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
