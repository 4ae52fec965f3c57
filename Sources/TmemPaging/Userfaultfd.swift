#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CUserfaultfd
import Tmem

/// Thin wrappers over the userfaultfd system call and its ioctls: one C call each, `-1`/errno turned into
/// `Result<_, Errno>` right after the call by the core's `valueOrErrno` (errno is read before anything
/// else can change it), EINTR retried where the call is restartable.
///
/// Callers decide what an error means; the fault path traps on errors that can only come from a bug in
/// this module (EBADF/EFAULT/EINVAL on our own fd and range), as swift-nio does for "unacceptable errno".
package enum Userfaultfd {
    /// UFFDIO_API: the handshake every new userfaultfd needs before anything else.
    ///
    /// - Returns: The features the kernel offers (all of them are reported whatever was requested).
    package static func handshake(_ fd: Int32, features: UInt64) -> Result<UInt64, Errno> {
        var api = uffdio_api(api: CUserfaultfd_UFFD_API, features: features, ioctls: 0)
        return valueOrErrno { CUserfaultfd_api(fd, &api) }.map { _ in api.features }
    }

    /// UFFDIO_REGISTER over `[start, start+length)`.
    ///
    /// - Returns: The bitmask of range ioctls the kernel supports on it (`1 << _UFFDIO_COPY`, ...).
    package static func register(
        _ fd: Int32,
        _ start: UnsafeMutableRawPointer,
        _ length: Int,
        mode: UInt64
    )
        -> Result<UInt64, Errno>
    {
        var reg = uffdio_register(range: range(start, length), mode: mode, ioctls: 0)
        return valueOrErrno { CUserfaultfd_register(fd, &reg) }.map { _ in reg.ioctls }
    }

    /// UFFDIO_UNREGISTER: threads still waiting on faults in the range are woken and retry without us.
    package static func unregister(_ fd: Int32, _ start: UnsafeMutableRawPointer, _ length: Int) -> Result<Void, Errno> {
        var r = range(start, length)
        return valueOrErrno { CUserfaultfd_unregister(fd, &r) }.map { _ in () }
    }

    /// UFFDIO_WAKE: wakes threads blocked on faults in the range, resolving nothing (they retry).
    package static func wake(_ fd: Int32, _ start: UnsafeMutableRawPointer, _ length: Int) -> Result<Void, Errno> {
        var r = range(start, length)
        return valueOrErrno { CUserfaultfd_wake(fd, &r) }.map { _ in () }
    }

    /// UFFDIO_COPY: fills missing pages at `destination` with `length` bytes from `source`.
    ///
    /// - Returns: The bytes filled. On failure the kernel may still have filled a prefix: `.failure`
    ///   carries the errno and `filled` how far it got (0 or a multiple of 4096).
    package static func copy(
        _ fd: Int32,
        to destination: UnsafeMutableRawPointer,
        from source: UnsafeRawPointer,
        length: Int,
        mode: UInt64
    ) -> (filled: Int, error: Errno?) {
        var request = uffdio_copy(
            dst: UInt64(UInt(bitPattern: destination)),
            src: UInt64(UInt(bitPattern: source)),
            len: UInt64(length),
            mode: mode,
            copy: 0
        )
        let result = CUserfaultfd_copy(fd, &request)
        let code = Errno.current
        if result == 0 { return (length, nil) }
        return (request.copy > 0 ? Int(request.copy) : 0, code)
    }

    /// UFFDIO_ZEROPAGE: maps the shared zero page at missing pages (no memory is used until written).
    package static func zeroPage(_ fd: Int32, _ start: UnsafeMutableRawPointer, _ length: Int, mode: UInt64) -> Errno? {
        var request = uffdio_zeropage(range: range(start, length), mode: mode, zeropage: 0)
        let result = CUserfaultfd_zeropage(fd, &request)
        return result == 0 ? nil : Errno.current
    }

    /// UFFDIO_POISON (Linux 6.6+): marks missing pages so that an access raises SIGBUS, and wakes the
    /// threads waiting on them: how a page that cannot be brought back fails its faulting access.
    package static func poison(_ fd: Int32, _ start: UnsafeMutableRawPointer, _ length: Int) -> Errno? {
        var request = CUserfaultfd_uffdio_poison(range: range(start, length), mode: 0, updated: 0)
        return CUserfaultfd_poison(fd, &request) == 0 ? nil : Errno.current
    }

    /// UFFDIO_WRITEPROTECT: `protect` sets userfaultfd write-protection on present pages (a later write
    /// blocks with a WP fault); clearing it also wakes threads blocked on WP faults in the range.
    package static func writeProtect(
        _ fd: Int32,
        _ start: UnsafeMutableRawPointer,
        _ length: Int,
        protect: Bool
    )
        -> Errno?
    {
        var request = uffdio_writeprotect(
            range: range(start, length),
            mode: protect ? CUserfaultfd_WRITEPROTECT_MODE_WP : 0
        )
        let result = CUserfaultfd_writeprotect(fd, &request)
        return result == 0 ? nil : Errno.current
    }

    @inline(__always)
    private static func range(_ start: UnsafeMutableRawPointer, _ length: Int) -> uffdio_range {
        uffdio_range(start: UInt64(UInt(bitPattern: start)), len: UInt64(length))
    }
}

/// The ways to get a userfaultfd, most capable first. Kernel faults (a `read(2)` into the region) are
/// served by the first two; the third reports only faults taken in user mode.
enum UserfaultfdSource: Hashable, Sendable, CaseIterable {
    /// `userfaultfd(2)`: allowed to root, to CAP_SYS_PTRACE, or to anyone when vm.unprivileged_userfaultfd=1.
    case systemCall
    /// `/dev/userfaultfd` + USERFAULTFD_IOC_NEW (Linux 6.1+): allowed to whoever may open the device node.
    case device
    /// `userfaultfd(2)` with UFFD_USER_MODE_ONLY (Linux 5.11+): allowed to anyone.
    case userModeOnly
}

/// Opens a userfaultfd the first way the kernel allows, and explains what to change when none is.
///
/// The attempt itself is a parameter, so the fallback order and the error text are tested without a kernel
/// that refuses (see the paging tests).
struct UserfaultfdOpener: Sendable {
    /// Tries one way; returns the new fd or the errno it failed with.
    var attempt: @Sendable (UserfaultfdSource) -> Result<Int32, Errno>

    /// The real kernel: O_CLOEXEC | O_NONBLOCK on every way.
    static let kernel = UserfaultfdOpener { source in
        let flags = O_CLOEXEC | O_NONBLOCK
        switch source {
        case .systemCall:
            return valueOrErrno { CUserfaultfd_userfaultfd(flags) }
        case .userModeOnly:
            return valueOrErrno { CUserfaultfd_userfaultfd(flags | CUserfaultfd_UFFD_USER_MODE_ONLY) }
        case .device:
            let device: Int32
            switch valueOrErrno({ open("/dev/userfaultfd", O_RDWR | O_CLOEXEC) }) {
            case .success(let fd): device = fd
            case .failure(let error): return .failure(error)
            }
            defer { close(device) }
            return valueOrErrno { CUserfaultfd_ioctl_new(device, flags) }
        }
    }

    /// Opens a userfaultfd.
    ///
    /// - Returns: The fd and how it was obtained.
    /// - Throws: ``PagingError`` `isNotPermitted` naming the sysctl, the capability and the device node
    ///   when every way was refused; `isUnsupported` when the kernel has no userfaultfd at all.
    func openFirstAllowed() throws(PagingError) -> (fd: Int32, source: UserfaultfdSource) {
        switch attempt(.systemCall) {
        case .success(let fd): return (fd, .systemCall)
        case .failure(let error) where error.rawValue == ENOSYS:
            throw .unsupported("this kernel has no userfaultfd (built without CONFIG_USERFAULTFD)", error)
        case .failure(let error) where error.rawValue != EPERM:
            throw .systemCall("userfaultfd(2)", error)
        case .failure:
            break
        }
        // Refused for lack of privilege: the device node may still be open to us (its mode decides).
        if case .success(let fd) = attempt(.device) { return (fd, .device) }
        if case .success(let fd) = attempt(.userModeOnly) { return (fd, .userModeOnly) }
        throw .notPermitted(
            "userfaultfd is not allowed for this process: vm.unprivileged_userfaultfd is 0 and it lacks "
                + "CAP_SYS_PTRACE (and UFFD_USER_MODE_ONLY, Linux 5.11+, was refused too). Run "
                + "`sysctl -w vm.unprivileged_userfaultfd=1`, or give the program CAP_SYS_PTRACE "
                + "(`setcap cap_sys_ptrace+ep PROGRAM`), or give its user read-write access to /dev/userfaultfd "
                + "(Linux 6.1+)."
        )
    }
}
