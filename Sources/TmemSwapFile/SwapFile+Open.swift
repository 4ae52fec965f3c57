#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Tmem

/// Opening a swap file: what may be one, the lock, the mark, sizing; and temporary files without a name.
extension SwapFile {
    /// Checks that `path` could be a swap file without opening it: it does not exist yet (it will be made),
    /// or it is a regular file or a block device.
    ///
    /// For callers that derive more paths from this one (`tmem replay`'s `PATH.T`) and must refuse before
    /// making any of them.
    ///
    /// - Parameter path: The path to check.
    /// - Throws: ``BackingDeviceError`` (`ENOTBLK` or `EISDIR`) naming the path and what it is instead.
    public static func checkUsable(path: String) throws(BackingDeviceError) {
        guard case .success(let info) = FileSystemCalls.status(path: path) else { return }
        try checkKind(FileSystemCalls.Kind(mode: info.st_mode), path)
    }

    /// Checks that `slots` pages could all be written at `path`: a swap area is only as large as the disk
    /// behind it (`swapon` refuses a file with holes for the same reason). Unwritten slots of a sparse file
    /// cost nothing, but a trace may write every one, and frontswap keeps map bits for every slot.
    ///
    /// For a block device the bound is its size; for a regular file (or a path not yet made, or a
    /// directory where a temporary file will go) it is the free space of its file system
    /// (`f_bavail * f_frsize`) plus what the file already occupies.
    ///
    /// - Parameters:
    ///   - slots: The slot count asked for.
    ///   - path: The swap file's path, or the directory a temporary one goes in.
    /// - Throws: ``BackingDeviceError`` (`ENOSPC`) saying how much is needed and how much there is; a
    ///   path whose file system cannot be examined is not refused here (opening it will say why).
    public static func checkSpace(forSlots slots: Int, at path: String) throws(BackingDeviceError) {
        let (needed, overflow) = slots.multipliedReportingOverflow(by: 4096)
        var available: UInt64
        var onFileSystem = true
        switch FileSystemCalls.status(path: path) {
        case .success(let info) where FileSystemCalls.Kind(mode: info.st_mode) == .blockDevice:
            let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)
            guard fd >= 0 else { return }
            defer { close(fd) }
            guard case .success(let size) = FileSystemCalls.blockDeviceSize(fd) else { return }
            available = size
            onFileSystem = false
        case .success(let info):
            guard case .success(let free) = FileSystemCalls.availableBytes(onFileSystemOf: path) else { return }
            let occupied = FileSystemCalls.Kind(mode: info.st_mode) == .regular ? UInt64(info.st_blocks) * 512 : 0
            available = free.addingReportingOverflow(occupied).overflow ? .max : free + occupied
        case .failure:
            let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
            guard case .success(let free) = FileSystemCalls.availableBytes(
                onFileSystemOf: directory.isEmpty ? "/" : directory)
            else { return }
            available = free
        }
        guard overflow || UInt64(needed) > available else { return }
        let wanted = overflow ? "more than \(formatByteCount(Int.max))" : formatByteCount(needed)
        throw BackingDeviceError(
            errno: .noSpace,
            message: "\(slots) slot\(slots == 1 ? "" : "s") at \(path) need \(wanted), but "
                + (onFileSystem
                    ? "its file system has \(formatByteCount(Int(clamping: available))) free"
                    : "the device holds \(formatByteCount(Int(clamping: available)))"))
    }

    /// Makes a swap file that has no name: made with `O_TMPFILE` in `directory` (or, where the file system
    /// does not offer it, with `mkostemp` and unlinked at once), so nothing is left behind however the
    /// process ends (SIGKILL included), and no temporary directory is needed.
    ///
    /// - Parameters:
    ///   - directory: Where the file's blocks live; nil: `$TMPDIR`, else /tmp.
    ///   - slots: The slot count, at least 1.
    ///   - directIO: Set `O_DIRECT` on it.
    /// - Returns: The open swap file; its ``path`` names the directory.
    /// - Throws: ``BackingDeviceError`` with the `errno` of the call that failed (no such directory, a
    ///   read-only or full file system, `O_DIRECT` not supported there), naming the directory.
    public static func temporary(
        in directory: String? = nil, slots: Int, directIO: Bool = false
    ) throws(BackingDeviceError) -> SwapFile {
        precondition(slots > 0, "a swap file has at least one slot")
        let directory = directory ?? environmentValue("TMPDIR") ?? "/tmp"
        let name = "a temporary swap file in \(directory)"
        func failure(_ what: String, _ code: Errno) -> BackingDeviceError {
            BackingDeviceError(errno: code, message: "cannot \(what) \(name): \(describeErrno(code.rawValue))")
        }
        var fd: Int32
        switch valueOrErrno({ open(directory, O_RDWR | O_CLOEXEC | openTemporaryFlag, 0o600) }) {
        case .success(let opened): fd = opened
        case .failure(let code) where code == Errno(EOPNOTSUPP) || code == Errno(EISDIR) || code == .invalidArgument:
            var template = Array("\(directory)/tmem-swap-XXXXXX".utf8CString)
            fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            guard fd >= 0 else { throw failure("make", .current) }
            template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        case .failure(let code): throw failure("make", code)
        }
        if directIO {
            let flags = fcntl(fd, F_GETFL)
            if fcntl(fd, F_SETFL, flags | openDirectFlag) == -1 {
                let code = Errno.current
                close(fd)
                throw failure("use O_DIRECT on", code)
            }
        }
        if case .failure(let code) = valueOrErrno({ ftruncate(fd, off_t(slots) * 4096) }) {
            close(fd)
            throw failure("size", code)
        }
        return SwapFile(adopting: fd, path: name, slots: slots, directIO: directIO)
    }

    /// Opens, checks, locks, marks and sizes the file at `path`; returns the descriptor.
    static func openChecked(path: String, slots: Int, options: Options) throws(BackingDeviceError) -> Int32 {
        func failure(_ what: String, _ code: Errno) -> BackingDeviceError {
            BackingDeviceError(errno: code, message: "cannot \(what) swap file \(path): \(describeErrno(code.rawValue))")
        }
        // Refuse a device that is no swap device before opening it: opening a tty or a tape has effects.
        try checkUsable(path: path)
        // O_DIRECT is set after the open (below): a file system that refuses it would fail the open after
        // creating the file, leaving it behind.
        let flags = O_RDWR | O_CLOEXEC | O_NOCTTY
        var created = true
        var opened = valueOrErrno { open(path, flags | O_CREAT | O_EXCL, 0o600) }
        var blockDevice = false
        if case .failure(let code) = opened, code == Errno(EEXIST) {
            created = false
            var info = stat()
            blockDevice = stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFBLK
            // O_EXCL on a block device claims it: Linux answers EBUSY while it is mounted, an active swap
            // partition, or held by another O_EXCL opener (mkfs relies on the same), whichever node names it.
            opened = valueOrErrno { open(path, blockDevice ? flags | O_EXCL : flags) }
        }
        let fd: Int32
        switch opened {
        case .success(let descriptor): fd = descriptor
        case .failure(let code) where blockDevice && code == Errno(EBUSY):
            throw BackingDeviceError(
                errno: .busy, message: "block device \(path) is in use (mounted, an active swap area, or claimed by another program)")
        case .failure(let code): throw failure("open", code)
        }
        var succeeded = false
        var locked = false
        defer {
            if !succeeded {
                close(fd)
                // Only a file this run created and still holds: a run that lost the lock to another must not
                // take the winner's file away from it.
                if created && locked { unlink(path) }
            }
        }

        let info: stat
        switch FileSystemCalls.status(fd: fd) {
        case .success(let status): info = status
        case .failure(let code): throw failure("stat", code)
        }
        let kind = FileSystemCalls.Kind(mode: info.st_mode)
        try checkKind(kind, path)
        switch FileSystemCalls.lockExclusively(fd) {
        case .success: locked = true
        case .failure(let code) where code == Errno(EWOULDBLOCK):
            throw BackingDeviceError(
                errno: .busy, message: "swap file \(path) is in use by another process (it holds the file's lock)")
        case .failure(let code): throw failure("lock", code)
        }
        if options.directIO {
            let current = fcntl(fd, F_GETFL)
            if fcntl(fd, F_SETFL, current | openDirectFlag) == -1 { throw failure("use O_DIRECT on", Errno.current) }
        }
        let size = off_t(slots) * 4096
        if kind == .blockDevice {
            let bytes: UInt64
            switch FileSystemCalls.blockDeviceSize(fd) {
            case .success(let value): bytes = value
            case .failure(let code): throw failure("size up", code)
            }
            guard bytes >= UInt64(size) else {
                throw BackingDeviceError(
                    errno: .noSpace,
                    message: "block device \(path) holds \(bytes / 4096) page\(bytes / 4096 == 1 ? "" : "s"), "
                        + "fewer than the \(slots) slot\(slots == 1 ? "" : "s") asked for")
            }
        } else {
            if !created && info.st_size > 0 && !options.allowExistingData
                && !FileSystemCalls.hasAttribute(fd, markAttribute)
            {
                throw BackingDeviceError(
                    errno: Errno(EEXIST),
                    message: "swap file \(path) already holds \(info.st_size) byte\(info.st_size == 1 ? "" : "s") "
                        + "that tmem did not write; refusing to overwrite them")
            }
            if info.st_size < size, case .failure(let code) = valueOrErrno({ ftruncate(fd, size) }) {
                throw BackingDeviceError(
                    errno: code,
                    message: "cannot size swap file \(path) to \(slots) page\(slots == 1 ? "" : "s"): "
                        + describeErrno(code.rawValue))
            }
            // Only a file this run made is marked as tmem's (one it was merely allowed to use, or found
            // empty, stays the user's). Best effort: where the file system keeps no user xattrs the file is
            // simply not marked.
            if created { _ = FileSystemCalls.setAttribute(fd, markAttribute, "1") }
            if options.removeOnClose { unlink(path) }
        }
        succeeded = true
        return fd
    }

    private static func checkKind(_ kind: FileSystemCalls.Kind, _ path: String) throws(BackingDeviceError) {
        guard kind != .regular && kind != .blockDevice else { return }
        throw BackingDeviceError(
            errno: kind.refusalErrno,
            message: "swap file \(path) is \(kind.phrase): use a regular file or a block device")
    }
}
