#if canImport(Glibc)
import Glibc
#endif
import Tmem

/// The Linux calls `tmem host-demo` needs that Glibc's Swift module does not export (`pipe2`,
/// `signalfd`, `prctl` are declared only under `_GNU_SOURCE` or in headers the module leaves out): each
/// looked up once in the C library by name and called through a pointer of its exact C type (for the
/// variadic `prctl`, the five-`unsigned long` form the kernel takes, which both x86-64 and arm64 pass
/// in the same registers as a variadic call).
///
/// Every wrapper returns the call's result and leaves `errno` as the call set it.
enum ProcessCalls {
    private typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    private typealias SignalFD = @convention(c) (Int32, UnsafePointer<sigset_t>, Int32) -> Int32
    private typealias Prctl = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32

    /// `PR_SET_PDEATHSIG` from `<linux/prctl.h>`.
    static let setParentDeathSignal: Int32 = 1
    /// `SFD_CLOEXEC` (the value of `O_CLOEXEC`).
    static let signalFDCloseOnExec: Int32 = 0o2_000_000
    /// `sizeof(struct signalfd_siginfo)`: one read returns one such record; its first field is the signal.
    static let signalInfoSize = 128

    /// Makes a pipe whose both ends are close-on-exec (so no other child inherits them).
    ///
    /// - Returns: The read end and the write end.
    /// - Throws: The `Errno` of `pipe2`.
    static func pipe() throws(Errno) -> (read: Int32, write: Int32) {
        guard let symbol = dlsym(nil, "pipe2") else { throw Errno(ENOSYS) }
        var fds: [Int32] = [-1, -1]
        let rc = fds.withUnsafeMutableBufferPointer { unsafeBitCast(symbol, to: Pipe2.self)($0.baseAddress!, O_CLOEXEC) }
        guard rc == 0 else { throw Errno.current }
        return (fds[0], fds[1])
    }

    /// Blocks `signals` in this thread (and every thread made after) and returns a descriptor that
    /// becomes readable when one arrives: signals turned into events a `poll` loop handles in order.
    ///
    /// Call it before any other thread exists (threads inherit the mask; a thread that did not block a
    /// signal would take it the default way). Children must be spawned with an empty mask.
    ///
    /// - Parameter signals: Such as `SIGINT`, `SIGTERM`.
    /// - Returns: The signalfd (close-on-exec).
    /// - Throws: The `Errno` of `pthread_sigmask` or `signalfd`.
    static func blockIntoDescriptor(_ signals: [Int32]) throws(Errno) -> Int32 {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        let masked = pthread_sigmask(SIG_BLOCK, &set, nil)
        guard masked == 0 else { throw Errno(masked) }
        guard let symbol = dlsym(nil, "signalfd") else { throw Errno(ENOSYS) }
        let fd = unsafeBitCast(symbol, to: SignalFD.self)(-1, &set, signalFDCloseOnExec)
        guard fd >= 0 else { throw Errno.current }
        return fd
    }

    /// Reads the signal a signalfd reports.
    ///
    /// - Parameter fd: From ``blockIntoDescriptor(_:)``, readable.
    /// - Returns: The signal's number, or nil if no whole record could be read.
    static func readSignal(_ fd: Int32) -> Int32? {
        var record = [UInt8](repeating: 0, count: signalInfoSize)
        let n = record.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n == signalInfoSize else { return nil }
        return record.withUnsafeBytes { Int32(bitPattern: $0.load(as: UInt32.self)) }
    }

    /// Asks the kernel to send this process `signal` when its parent (the thread that spawned it) ends:
    /// a demo's client never outlives the demo, even one killed with SIGKILL.
    ///
    /// - Parameter signal: Such as `SIGKILL`.
    /// - Returns: Whether the kernel took it.
    @discardableResult
    static func dieWithParent(_ signal: Int32) -> Bool {
        guard let symbol = dlsym(nil, "prctl") else { return false }
        return unsafeBitCast(symbol, to: Prctl.self)(setParentDeathSignal, UInt(signal), 0, 0, 0) == 0
    }

    /// This executable's path (`/proc/self/exe`), so the demo can start more of itself.
    ///
    /// - Returns: The path, or nil if the link cannot be read.
    static func executablePath() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return nil }
        return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
